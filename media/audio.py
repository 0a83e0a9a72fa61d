"""Audio sources: timing marks, speech-like sound and silence, 48 kHz mono s16 in 20 ms frames.

Timing marks are short tones that start at wall-clock multiples of `mark_interval` (every
whole second by default). The receiver knows that schedule, so the arrival time of a detected
onset minus the scheduled time is the one-way audio delay, with no side channel; the same
clock stamps the video timecode, which makes the two comparable for A/V sync.
"""

from __future__ import annotations

import functools
import time
from abc import abstractmethod
from dataclasses import dataclass

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
REORIGIN_SAMPLES = AUDIO_SAMPLE_RATE // 2
"""A frame due this far (0.5 s) from where the wall-clock origin puts it means the pacer
moved its schedule: the origin moves with it (less is the event loop's lateness)."""


def pcm_frame(samples: Samples, pts: int, sample_rate: int = AUDIO_SAMPLE_RATE) -> av.AudioFrame:
    """Wrap float samples in [-1, 1] as a mono s16 frame."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
    frame.sample_rate = sample_rate
    frame.pts = pts
    frame.time_base = AUDIO_TIME_BASE
    return frame


class PacedAudioTrack(MediaStreamTrack):
    """Renders 20 ms of audio when it is due; sample `n` has wall-clock time `start + n / rate`.

    `wall_origin` maps a sample to the wall clock: sample `n` was due at wall-clock sample
    `wall_origin + n` (48 kHz since the epoch). It is set at the first frame and again when
    the pacer moved its schedule (a consumer more than a second behind), so the synthetic
    sound and its marks stay on the wall clock a receiver rebuilds them from."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._pacer = Pacer(1 / AUDIO_PTIME)
        self.start_wall: float | None = None
        self.wall_origin: int | None = None

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        index = await self._pacer.wait()
        if self.start_wall is None:
            self.start_wall = time.time()
        first = index * AUDIO_SAMPLES_PER_FRAME
        due = round((self._pacer.due + time.time() - time.monotonic()) * AUDIO_SAMPLE_RATE)
        if self.wall_origin is None or abs(due - self.wall_origin - first) > REORIGIN_SAMPLES:
            self.wall_origin = due - first
        return pcm_frame(self.render(first, AUDIO_SAMPLES_PER_FRAME), first)

    def start_at(self, wall: float) -> None:
        """Place sample 0 at wall-clock time `wall`: rendering without the pacer (files)."""
        self.start_wall = wall
        self.wall_origin = round(wall * AUDIO_SAMPLE_RATE)

    @abstractmethod
    def render(self, first_sample: int, count: int) -> Samples:
        """Samples `first_sample .. first_sample + count` as float32 in [-1, 1]."""


class SilenceTrack(PacedAudioTrack):
    """Digital silence: the muted-microphone case."""

    def render(self, first_sample: int, count: int) -> Samples:
        return np.zeros(count, dtype=np.float32)


@functools.cache
def speech_like(
    seconds: float = 12.0, seed: int = 7, sample_rate: int = AUDIO_SAMPLE_RATE
) -> Samples:
    """Formant-shaped noise in syllable-length bursts, grouped into phrases with pauses.

    Voice activity detectors and transcribers react to it like to speech (energy in the
    300-3400 Hz band, 4-5 Hz syllable modulation, silent gaps) without shipping a recording.
    Deterministic (`seed`), so a receiver rebuilds it as the reference of its MOS score.
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
    out.setflags(write=False)  # cached: one copy shared by every source and reference
    return out


@dataclass(frozen=True, slots=True)
class SyntheticSound:
    """The synthetic sound as a pure function of wall-clock time: what a `SyntheticAudioTrack`
    sends, and what a receiver rebuilds to score what it heard (`media.audio_quality`).

    `marks`: a `mark_seconds` tone of `tone_hz` starting at every wall-clock multiple of
    `mark_interval` seconds. `speech`: the speech-like loop, indexed by the wall-clock sample,
    so sample `n` (`n / AUDIO_SAMPLE_RATE` seconds since the epoch) is the same for every
    sender and every receiver. The marks are loud and narrow-band so a detector finds them
    over the speech.
    """

    marks: bool = True
    speech: bool = False
    mark_interval: float = 1.0
    mark_seconds: float = 0.060
    tone_hz: float = 1000.0
    level: float = 0.5

    def __post_init__(self) -> None:
        if not self.marks and not self.speech:
            raise ValueError("choose marks, speech or both (SilenceTrack is silence)")

    def samples(self, wall_sample: int, count: int) -> Samples:
        """Samples `wall_sample .. wall_sample + count` (48 kHz, counted from the epoch)."""
        index = wall_sample + np.arange(count, dtype=np.int64)
        out = np.zeros(count, dtype=np.float32)
        if self.speech:
            speech = speech_like()
            out += 0.6 * speech[index % len(speech)]
        if self.marks:
            since_mark = index % round(self.mark_interval * AUDIO_SAMPLE_RATE)
            on = since_mark < round(self.mark_seconds * AUDIO_SAMPLE_RATE)
            phase = 2 * np.pi * self.tone_hz / AUDIO_SAMPLE_RATE
            out[on] = self.level * np.sin(phase * since_mark[on])
        return out


class SyntheticAudioTrack(PacedAudioTrack):
    """Timing-mark tones, speech-like sound, or both mixed: a `SyntheticSound`, sent."""

    def __init__(
        self,
        marks: bool = True,
        speech: bool = False,
        mark_interval: float = 1.0,
        mark_ms: float = 60.0,
        tone_hz: float = 1000.0,
        level: float = 0.5,
    ) -> None:
        self.sound = SyntheticSound(marks, speech, mark_interval, mark_ms / 1000, tone_hz, level)
        super().__init__()

    def render(self, first_sample: int, count: int) -> Samples:
        assert self.wall_origin is not None
        return self.sound.samples(self.wall_origin + first_sample, count)
