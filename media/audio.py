"""Audio sources: timing marks, speech-like sound and silence, 48 kHz mono s16 in 20 ms frames.

Timing marks are short tones that start at wall-clock multiples of `mark_interval` (every
whole second by default). The receiver knows that schedule, so the arrival time of a detected
onset minus the scheduled time is the one-way audio delay, with no side channel; the same
clock stamps the video timecode, which makes the two comparable for A/V sync.
"""

from __future__ import annotations

import time
from abc import abstractmethod

import av
import numpy as np
import numpy.typing as npt
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.pacing import (
    AUDIO_PTIME,
    AUDIO_SAMPLE_RATE,
    AUDIO_SAMPLES_PER_FRAME,
    AUDIO_TIME_BASE,
    Pacer,
)

Samples = npt.NDArray[np.float32]


def pcm_frame(samples: Samples, pts: int, sample_rate: int = AUDIO_SAMPLE_RATE) -> av.AudioFrame:
    """Wrap float samples in [-1, 1] as a mono s16 frame."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
    frame.sample_rate = sample_rate
    frame.pts = pts
    frame.time_base = AUDIO_TIME_BASE
    return frame


class PacedAudioTrack(MediaStreamTrack):
    """Renders 20 ms of audio when it is due; sample `n` has wall-clock time `start + n / rate`."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._pacer = Pacer(1 / AUDIO_PTIME)
        self.start_wall: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        index = await self._pacer.wait()
        if self.start_wall is None:
            self.start_wall = time.time()
        first = index * AUDIO_SAMPLES_PER_FRAME
        return pcm_frame(self.render(first, AUDIO_SAMPLES_PER_FRAME), first)

    @abstractmethod
    def render(self, first_sample: int, count: int) -> Samples:
        """Samples `first_sample .. first_sample + count` as float32 in [-1, 1]."""


class SilenceTrack(PacedAudioTrack):
    """Digital silence: the muted-microphone case."""

    def render(self, first_sample: int, count: int) -> Samples:
        return np.zeros(count, dtype=np.float32)


def speech_like(
    seconds: float = 12.0, seed: int = 7, sample_rate: int = AUDIO_SAMPLE_RATE
) -> Samples:
    """Formant-shaped noise in syllable-length bursts, grouped into phrases with pauses.

    Voice activity detectors and transcribers react to it like to speech (energy in the
    300-3400 Hz band, 4-5 Hz syllable modulation, silent gaps) without shipping a recording.
    """
    rng = np.random.default_rng(seed)
    total = int(seconds * sample_rate)
    out = np.zeros(total, dtype=np.float32)
    position = int(0.2 * sample_rate)
    while position < total:
        phrase = int(rng.uniform(0.8, 2.5) * sample_rate)
        end = min(total, position + phrase)
        length = end - position
        noise = rng.standard_normal(length)
        spectrum = np.fft.rfft(noise)
        freqs = np.fft.rfftfreq(length, 1 / sample_rate)
        envelope = np.zeros_like(freqs)
        for centre, width, gain in ((500, 120, 1.0), (1500, 200, 0.6), (2500, 300, 0.3)):
            envelope += gain * np.exp(
                -0.5 * ((freqs - centre * rng.uniform(0.9, 1.1)) / width) ** 2
            )
        shaped = np.fft.irfft(spectrum * envelope, n=length)
        t = np.arange(length) / sample_rate
        syllables = 0.5 * (1 - np.cos(2 * np.pi * rng.uniform(3.5, 5.5) * t))
        shaped *= syllables
        peak = np.max(np.abs(shaped)) or 1.0
        out[position:end] = (0.5 * shaped / peak).astype(np.float32)
        position = end + int(rng.uniform(0.3, 1.0) * sample_rate)
    return out


class SyntheticAudioTrack(PacedAudioTrack):
    """Timing-mark tones, speech-like sound, or both mixed.

    `marks`: a `mark_ms` tone of `tone_hz` starting at every wall-clock multiple of
    `mark_interval` seconds. `speech`: a looped speech-like signal. The marks are loud and
    narrow-band so a detector finds them over the speech.
    """

    def __init__(
        self,
        marks: bool = True,
        speech: bool = False,
        mark_interval: float = 1.0,
        mark_ms: float = 60.0,
        tone_hz: float = 1000.0,
        level: float = 0.5,
    ) -> None:
        super().__init__()
        if not marks and not speech:
            raise ValueError("choose marks, speech or both (SilenceTrack is silence)")
        self.marks = marks
        self.mark_interval = mark_interval
        self.mark_seconds = mark_ms / 1000
        self.tone_hz = tone_hz
        self.level = level
        self._speech = speech_like() if speech else None

    def render(self, first_sample: int, count: int) -> Samples:
        out = np.zeros(count, dtype=np.float32)
        if self._speech is not None:
            n = len(self._speech)
            idx = (np.arange(first_sample, first_sample + count)) % n
            out += 0.6 * self._speech[idx]
        if self.marks:
            assert self.start_wall is not None
            t = self.start_wall + (first_sample + np.arange(count)) / AUDIO_SAMPLE_RATE
            since_mark = np.mod(t, self.mark_interval)
            on = since_mark < self.mark_seconds
            if on.any():
                out = np.where(on, 0.0, out).astype(np.float32)
                out += on * self.level * np.sin(2 * np.pi * self.tone_hz * since_mark)
        return out.astype(np.float32)
