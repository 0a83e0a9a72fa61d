"""Recorders stopped mid-write: what a reader cancelled during a write leaves behind.

A cancelled `consume` does not stop its write, which goes on in an executor thread; the
closing flush must wait for it, and nothing may be written after the flush.
"""

from __future__ import annotations

import asyncio
import fractions
import threading
import time
import wave
from pathlib import Path

import av
import numpy as np

from media.recorder import VideoRecorder, WavRecorder
from media.video import SyntheticVideoTrack


class SlowVideoRecorder(VideoRecorder):
    """Its writes take a while (a loaded machine), and it says when one has begun."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.writing = threading.Event()

    def _write(self, frame: av.VideoFrame, pts: int) -> None:
        self.writing.set()
        time.sleep(0.3)
        super()._write(frame, pts)


class SlowWavRecorder(WavRecorder):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.writing = threading.Event()

    def _write(self, frame: av.AudioFrame) -> None:
        self.writing.set()
        time.sleep(0.3)
        super()._write(frame)


def audio_frame(index: int) -> av.AudioFrame:
    samples = np.full((1, 960), 1000 * (index + 1), dtype=np.int16)
    frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
    frame.sample_rate = 48000
    frame.pts = index * 960
    frame.time_base = fractions.Fraction(1, 48000)
    return frame


async def write_then_cancel_then_close(
    recorder: SlowVideoRecorder | SlowWavRecorder, frames: list[av.VideoFrame | av.AudioFrame]
) -> None:
    for frame in frames[:-1]:
        await recorder.consume(frame, time.time())
    recorder.writing.clear()
    late = asyncio.create_task(recorder.consume(frames[-1], time.time()))
    await asyncio.to_thread(recorder.writing.wait, 5)
    late.cancel()  # as TrackReader.stop does to a reader inside consume
    await recorder.close()
    await recorder.consume(frames[0], time.time())  # after the end: ignored, file untouched
    await asyncio.sleep(0.5)


async def test_video_recording_closed_during_a_write_keeps_every_frame(tmp_path: Path) -> None:
    path = tmp_path / "call.mp4"
    recorder = SlowVideoRecorder(path)
    source = SyntheticVideoTrack(160, 90)
    await write_then_cancel_then_close(recorder, [source.render(i) for i in range(4)])

    with av.open(str(path)) as container:
        decoded = sum(1 for _ in container.decode(video=0))
    assert decoded == 4


async def test_wav_recording_closed_during_a_write_keeps_every_frame(tmp_path: Path) -> None:
    path = tmp_path / "call.wav"
    recorder = SlowWavRecorder(path)
    await write_then_cancel_then_close(recorder, [audio_frame(i) for i in range(4)])

    with wave.open(str(path)) as wav:
        assert wav.getnframes() == 4 * 960
        pcm = np.frombuffer(wav.readframes(4 * 960), dtype=np.int16)
    assert [int(pcm[i * 960]) for i in range(4)] == [1000, 2000, 3000, 4000]
