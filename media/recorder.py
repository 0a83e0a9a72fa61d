"""Recording sinks: decoded video to a container file, decoded audio to WAV.

Timestamps come from arrival times, not from the sender's clock, so a recording lasts as long
as the call did even when frames were lost or the sender's frame rate wobbled; the container
keeps the variable frame rate (millisecond time base). Audio gaps (missing RTP timestamps)
are filled with silence for the same reason. Encoding and writing run in the default
executor so a recording does not stall the event loop, one step at a time (`_SerialSink`).
"""

from __future__ import annotations

import asyncio
import fractions
import threading
import wave
from collections.abc import Callable
from functools import partial
from pathlib import Path

import av
import numpy as np
from av.video.stream import VideoStream

from media.pacing import AUDIO_SAMPLE_RATE
from media.reader import Item, Sink

VIDEO_CODECS = {".webm": "libvpx", ".mkv": "libx264", ".mp4": "libx264", ".mov": "libx264"}
MS = fractions.Fraction(1, 1000)


class _SerialSink(Sink):
    """Runs its encoder and file work in the default executor, one step at a time, and none
    after the closing step.

    A reader cancelled while it awaits a write leaves that write running in its thread; the
    closing flush then ran beside it (x264 aborted the whole process, or the file was left
    unreadable) and a late write could reopen the file.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._finished = False

    def _serially(self, step: Callable[[], None], last: bool) -> None:
        with self._lock:
            if self._finished:
                return
            self._finished = last
            step()

    async def _in_thread(self, step: Callable[[], None], last: bool = False) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._serially, step, last)


class VideoRecorder(_SerialSink):
    """Writes decoded video frames to `path` (.mp4, .mkv, .mov with H264; .webm with VP8)."""

    def __init__(self, path: str | Path, codec: str | None = None, bitrate: int = 1_000_000):
        super().__init__()
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if codec is None and suffix not in VIDEO_CODECS:
            raise ValueError(
                f"cannot record video to {suffix!r}; use one of {sorted(VIDEO_CODECS)}"
            )
        self.codec = codec or VIDEO_CODECS[suffix]
        self.bitrate = bitrate
        self.frames = 0
        self._container: av.container.OutputContainer | None = None
        self._stream: VideoStream | None = None
        self._first_at: float | None = None
        self._last_pts = -1
        self._last_at = 0.0

    def _open(self, frame: av.VideoFrame) -> VideoStream:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(self.path), mode="w")
        stream = self._container.add_stream(self.codec, rate=30)
        if not isinstance(stream, VideoStream):
            raise ValueError(f"{self.codec} is not a video codec")
        stream.width = frame.width
        stream.height = frame.height
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = self.bitrate
        stream.time_base = MS
        stream.codec_context.time_base = MS
        if self.codec == "libx264":
            stream.options = {"preset": "ultrafast", "tune": "zerolatency"}
        elif self.codec == "libvpx":
            stream.options = {"deadline": "realtime", "cpu-used": "8"}
        self._stream = stream
        return stream

    def _write(self, frame: av.VideoFrame, pts: int) -> None:
        stream = self._stream or self._open(frame)
        if (frame.width, frame.height) != (stream.width, stream.height):
            frame = frame.reformat(width=stream.width, height=stream.height)
        frame = frame.reformat(format="yuv420p") if frame.format.name != "yuv420p" else frame
        frame.pts = pts
        frame.time_base = MS
        assert self._container is not None
        self._container.mux(stream.encode(frame))

    async def consume(self, item: Item, received_at: float) -> None:
        if not isinstance(item, av.VideoFrame):
            raise TypeError(f"VideoRecorder needs decoded video frames, got {type(item).__name__}")
        if self._first_at is None:
            self._first_at = received_at
        pts = max(self._last_pts + 1, round((received_at - self._first_at) * 1000))
        self._last_pts = pts
        self._last_at = received_at
        await self._in_thread(partial(self._write, item, pts))
        self.frames += 1

    def _finish(self) -> None:
        if self._container is None or self._stream is None:
            return
        self._container.mux(self._stream.encode(None))
        self._container.close()
        self._container = None

    async def close(self) -> None:
        await self._in_thread(self._finish, last=True)

    @property
    def seconds(self) -> float:
        """Length of what was recorded, first to last frame."""
        return 0.0 if self._first_at is None else self._last_at - self._first_at


class WavRecorder(_SerialSink):
    """Writes decoded audio to a 16-bit WAV at `sample_rate` with `channels` channels."""

    def __init__(
        self, path: str | Path, sample_rate: int = AUDIO_SAMPLE_RATE, channels: int = 1
    ) -> None:
        super().__init__()
        self.path = Path(path)
        self.sample_rate = sample_rate
        self.channels = channels
        self.samples = 0
        self._resampler = av.AudioResampler(
            format="s16", layout="mono" if channels == 1 else "stereo", rate=sample_rate
        )
        self._wave: wave.Wave_write | None = None
        self._next_time: float | None = None

    def _writer(self) -> wave.Wave_write:
        if self._wave is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            writer = wave.open(str(self.path), "wb")  # noqa: SIM115 (closed in _finish)
            writer.setnchannels(self.channels)
            writer.setsampwidth(2)
            writer.setframerate(self.sample_rate)
            self._wave = writer
        return self._wave

    def _write(self, frame: av.AudioFrame) -> None:
        writer = self._writer()
        if frame.pts is not None and frame.time_base is not None:
            start = float(frame.pts * frame.time_base)
            if self._next_time is not None and start - self._next_time > 0.001:
                missing = round((start - self._next_time) * self.sample_rate)
                writer.writeframes(bytes(2 * self.channels * missing))
                self.samples += missing
            self._next_time = start + frame.samples / frame.sample_rate
        for out in self._resampler.resample(frame):
            pcm = np.ascontiguousarray(out.to_ndarray(), dtype=np.int16)
            writer.writeframes(pcm.tobytes())
            self.samples += out.samples

    async def consume(self, item: Item, received_at: float) -> None:
        if not isinstance(item, av.AudioFrame):
            raise TypeError(f"WavRecorder needs decoded audio frames, got {type(item).__name__}")
        await self._in_thread(partial(self._write, item))

    def _finish(self) -> None:
        if self._wave is not None:
            for out in self._resampler.resample(None):
                self._wave.writeframes(np.ascontiguousarray(out.to_ndarray(), np.int16).tobytes())
                self.samples += out.samples
            self._wave.close()
            self._wave = None

    async def close(self) -> None:
        await self._in_thread(self._finish, last=True)

    @property
    def seconds(self) -> float:
        return self.samples / self.sample_rate
