"""Synthetic audio: marks found where scheduled (also through Opus), speech-like, silence."""

from __future__ import annotations

import av
import numpy as np
from aiortc.codecs.opus import OpusDecoder, OpusEncoder
from aiortc.jitterbuffer import JitterFrame

from media.analysis import AudioLevels, ToneOnsetDetector, level_dbfs, mark_delay, mono_samples
from media.audio import SilenceTrack, SyntheticAudioTrack, pcm_frame, speech_like
from media.pacing import AUDIO_SAMPLE_RATE, AUDIO_SAMPLES_PER_FRAME


def _render(track: SyntheticAudioTrack, start_wall: float, frames: int) -> list[np.ndarray]:
    """Frames as the track renders them, without waiting in real time."""
    track.start_at(start_wall)
    return [
        track.render(i * AUDIO_SAMPLES_PER_FRAME, AUDIO_SAMPLES_PER_FRAME) for i in range(frames)
    ]


def test_marks_start_on_wall_clock_multiples() -> None:
    track = SyntheticAudioTrack(mark_interval=0.5, mark_ms=40)
    start = 1_700_000_000.3  # marks due at .5 and .0 of each second
    chunks = _render(track, start, 100)  # 2 s
    detector = ToneOnsetDetector(1000.0, AUDIO_SAMPLE_RATE, min_gap=0.25)
    onsets: list[float] = []
    for index, chunk in enumerate(chunks):
        onsets += detector.add(chunk, start + index * 0.02)
    assert len(onsets) == 4
    for onset in onsets:
        delay = mark_delay(onset, 0.5)
        assert delay is not None and delay < 0.006, onset


def test_marks_survive_opus_and_give_the_codec_delay() -> None:
    track = SyntheticAudioTrack(marks=True, speech=True)
    start = 1_700_000_000.55
    encoder, decoder = OpusEncoder(), OpusDecoder()
    detector = ToneOnsetDetector(1000.0, AUDIO_SAMPLE_RATE, min_gap=0.5)
    decoded_at = start
    delays = []
    for index, chunk in enumerate(_render(track, start, 200)):  # 4 s
        payloads, timestamp = encoder.encode(pcm_frame(chunk, index * AUDIO_SAMPLES_PER_FRAME))
        for payload in payloads:
            for frame in decoder.decode(JitterFrame(payload, timestamp)):
                assert isinstance(frame, av.AudioFrame)
                samples = mono_samples(frame)
                for onset in detector.add(samples, decoded_at):
                    delays.append(mark_delay(onset, 1.0))
                decoded_at += frame.samples / frame.sample_rate
    assert len(delays) == 4, delays
    # Opus adds a few ms of algorithmic delay; detection is to a 5 ms block.
    assert all(d is not None and d < 0.03 for d in delays), delays


def test_speech_like_has_speech_band_energy_and_pauses() -> None:
    signal = speech_like(seconds=10.0)
    frames = signal[: len(signal) // 960 * 960].reshape(-1, 960)
    levels = np.array([level_dbfs(f) for f in frames])
    silent = np.mean(levels < -50)
    assert 0.1 < silent < 0.6, f"pauses take {silent:.0%} of the signal"
    spectrum = np.abs(np.fft.rfft(signal)) ** 2
    freqs = np.fft.rfftfreq(len(signal), 1 / AUDIO_SAMPLE_RATE)
    band = spectrum[(freqs > 300) & (freqs < 3400)].sum() / spectrum.sum()
    assert band > 0.9


async def test_tracks_emit_48k_mono_s16_20ms_frames_with_rising_pts() -> None:
    for track in (SilenceTrack(), SyntheticAudioTrack(speech=True)):
        frames = [await track.recv() for _ in range(5)]
        assert all(isinstance(f, av.AudioFrame) for f in frames)
        assert {f.samples for f in frames} == {AUDIO_SAMPLES_PER_FRAME}
        assert {f.sample_rate for f in frames} == {AUDIO_SAMPLE_RATE}
        assert {f.format.name for f in frames} == {"s16"}
        assert [f.pts for f in frames] == [i * AUDIO_SAMPLES_PER_FRAME for i in range(5)]
        levels = AudioLevels()
        for frame in frames:
            levels.add(mono_samples(frame), frame.sample_rate)
        if isinstance(track, SilenceTrack):
            assert levels.silence_ratio == 1.0
        track.stop()
