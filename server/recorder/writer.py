"""Track files: encoded frames muxed as they are (no decoder, no encoder) with PyAV.

VP8 and Opus go to WebM, H264 (Annex-B, as depayloaded) to Matroska: both are written
incrementally, so a file cut short by a crash still demuxes up to the last cluster, which
`salvage` then copies into a complete file. Writing runs in the default executor in batches
(every `FLUSH_SECONDS`), so the publisher's packet path only appends to a list.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import av
from av.container import OutputContainer
from av.stream import Stream
from av.video.stream import VideoStream

log = logging.getLogger(__name__)

MS = fractions.Fraction(1, 1000)
FLUSH_SECONDS = 0.25
"""How long frames wait before a batch goes to the file: a few executor hops per second per
track instead of one per frame."""

_CRASH_SAFE = {"cluster_time_limit": "1000", "flush_packets": "1"}
"""Matroska keeps a cluster in memory until it closes: closing one every second and writing it
out at once means a crash loses at most the last second (salvage reads the rest)."""

CONTAINERS = {"VP8": "webm", "opus": "webm", "H264": "matroska"}
"""Container per RTP codec name; other codecs cannot be recorded."""
_PYAV_CODECS = {"VP8": "vp8", "opus": "opus", "H264": "h264"}


def container_for(codec_name: str) -> str | None:
    for name, container in CONTAINERS.items():
        if name.lower() == codec_name.lower():
            return container
    return None


def opus_head(channels: int = 2, pre_skip: int = 312, sample_rate: int = 48000) -> bytes:
    """The 19-byte OpusHead (RFC 7845 5.1) WebM players need as the codec private data."""
    return b"OpusHead" + struct.pack("<BBHIhB", 1, channels, pre_skip, sample_rate, 0, 0)


@dataclass(slots=True)
class Frame:
    data: bytes
    pts: int
    """Milliseconds from the track's first frame."""
    keyframe: bool


class TrackWriter:
    """Writes one track's frames to ``part`` and, at `close`, moves the complete file to
    ``final``."""

    def __init__(self, part: Path, final: Path, codec_name: str) -> None:
        container = container_for(codec_name)
        if container is None:
            raise ValueError(f"cannot record codec {codec_name}")
        self.part = part
        self.final = final
        self.codec_name = codec_name
        self.container_format = container
        self.frames = 0
        self.size: int | None = None
        self.error: str | None = None
        self._batch: list[Frame] = []
        self._container: OutputContainer | None = None
        self._stream: Stream | None = None
        self._last_pts = -1
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name=f"track writer {final.name}")

    def add(self, frame: Frame) -> None:
        """Queue one frame (called on the packet path: appends only)."""
        self._batch.append(frame)
        self._wake.set()

    async def close(self) -> int | None:
        """Write what is queued, finish the file and move it to its final name; the size in
        bytes, or None when no frame was ever written (no file is left then)."""
        self._closing.set()
        self._wake.set()
        await asyncio.shield(self._task)
        return self.size

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while not self._closing.is_set():
                await self._wake.wait()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), FLUSH_SECONDS)
                self._wake.clear()
                await self._flush(loop)
            await self._flush(loop)  # what came while the last batch was written
            await loop.run_in_executor(None, self._finish)
        except Exception as exc:  # the file is lost, the recording goes on without it
            log.exception("recording %s failed", self.final.name)
            self.error = f"{type(exc).__name__}: {exc}"
            await loop.run_in_executor(None, self._discard)

    async def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, self._batch = self._batch, []
        if batch:
            await loop.run_in_executor(None, self._write, batch)

    # --- in the executor, one step at a time ---------------------------------------------

    def _write(self, batch: list[Frame]) -> None:
        for frame in batch:
            if self._container is None:
                self._open(frame)
            pts = max(frame.pts, self._last_pts + 1)
            self._last_pts = pts
            packet = av.Packet(frame.data)
            packet.pts = packet.dts = pts
            packet.time_base = MS
            packet.is_keyframe = frame.keyframe
            assert self._container is not None and self._stream is not None
            packet.stream = self._stream
            self._container.mux(packet)
            self.frames += 1

    def _open(self, first: Frame) -> None:
        container = av.open(str(self.part), "w", format=self.container_format, options=_CRASH_SAFE)
        name = _PYAV_CODECS[next(k for k in _PYAV_CODECS if k.lower() == self.codec_name.lower())]
        stream: Stream
        if name == "opus":
            audio = container.add_stream("opus", rate=48000)
            audio.codec_context.layout = "stereo"
            audio.codec_context.extradata = opus_head()
            stream = audio
        else:
            width, height = _picture_size(name, first.data)
            video = container.add_stream(name)
            assert isinstance(video, VideoStream)
            video.width = width
            video.height = height
            stream = video
        stream.time_base = MS
        self._container = container
        self._stream = stream

    def _finish(self) -> None:
        if self._container is None:
            return
        self._container.close()
        self._container = None
        with open(self.part, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(self.part, self.final)
        self.size = self.final.stat().st_size

    def _discard(self) -> None:
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None
        self.part.unlink(missing_ok=True)


def _picture_size(codec: str, keyframe: bytes) -> tuple[int, int]:
    """The picture size of a keyframe, from decoding it once (frames keep their own size if
    it changes later; the container's is only a hint)."""
    decoder = av.CodecContext.create(codec, "r")
    assert isinstance(decoder, av.VideoCodecContext)
    frames = decoder.decode(av.Packet(keyframe)) + decoder.decode(None)
    if not frames:
        raise ValueError(f"the first {codec} keyframe does not decode")
    frame = frames[0]
    assert isinstance(frame, av.VideoFrame)
    return frame.width, frame.height


def salvage(part: Path, final: Path, container_format: str) -> tuple[int, int | None]:
    """Copy every packet still readable from a file cut short by a crash into a complete file
    at ``final``: how many packets were saved (0: nothing readable, no file written) and the
    last one's pts in milliseconds."""
    saved = 0
    last_ms: int | None = None
    try:
        source = av.open(str(part), "r")
    except av.FFmpegError:
        return 0, None
    with source:
        if not source.streams:
            return 0, None
        template = source.streams[0]
        temporary = final.with_suffix(".salvage")
        with av.open(str(temporary), "w", format=container_format) as target:
            stream = target.add_stream_from_template(template)
            try:
                for packet in source.demux(template):
                    if packet.size == 0 or packet.pts is None:
                        continue
                    if packet.time_base is not None:
                        last_ms = int(packet.pts * packet.time_base * 1000)
                    packet.stream = stream
                    target.mux(packet)
                    saved += 1
            except av.FFmpegError as exc:
                log.info("salvage of %s stopped at a damaged part: %s", part.name, exc)
        if saved:
            os.replace(temporary, final)
        else:
            temporary.unlink(missing_ok=True)
    return saved, last_ms
