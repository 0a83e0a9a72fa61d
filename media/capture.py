"""What the target captures: the frame it is sending at that moment, encoded as an image.

A phone's snapshot is a picture of what its camera shows, which is what it is sending. So
the published video track is wrapped: `FrameTap` hands every frame on to the sender unchanged
and keeps the last one, plus the timecodes of the frames of the last seconds so a test can
check a snapshot against what was really sent.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media import timecode

__all__ = ["FrameTap", "ImageFormat", "SentFrame", "encode_image", "image_format_for"]

HISTORY_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class SentFrame:
    handed_at: float
    """`time.time()` when the frame left `recv()` for the sender."""
    code: tuple[int, int] | None
    """(sequence, send time in ms) from the frame's timecode, None without one."""


class FrameTap(MediaStreamTrack):
    """Passes `source`'s video frames to whoever reads it and keeps the last one."""

    kind = "video"

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        if source.kind != "video":
            raise ValueError(f"a frame tap wraps a video track, not {source.kind}")
        self.source = source
        self.last_frame: av.VideoFrame | None = None
        self.sent: deque[SentFrame] = deque()

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self.source.recv()
        if not isinstance(frame, av.VideoFrame):
            raise TypeError(f"a frame tap needs decoded frames, got {type(frame).__name__}")
        now = time.time()
        self.last_frame = frame
        self.sent.append(SentFrame(now, timecode.read(frame)))
        while self.sent and self.sent[0].handed_at < now - HISTORY_SECONDS:
            self.sent.popleft()
        return frame

    def sent_at(self, code: tuple[int, int]) -> float | None:
        """When the frame with this timecode was handed to the sender (None: not in the
        last few seconds)."""
        return next((f.handed_at for f in self.sent if f.code == code), None)

    def stop(self) -> None:
        super().stop()
        self.source.stop()


class ImageFormat(StrEnum):
    JPEG = "jpeg"
    PNG = "png"

    @property
    def suffix(self) -> str:
        return "jpg" if self is ImageFormat.JPEG else "png"

    @property
    def mime_type(self) -> str:
        return f"image/{self.value}"


def image_format_for(snapshot_type: str | None, default: ImageFormat) -> ImageFormat:
    """PNG when the request's snapshot type asks for it (e.g. "PNG", "image/png"), else
    `default`: the contract has no other field that names the picture format."""
    if snapshot_type and "png" in snapshot_type.lower():
        return ImageFormat.PNG
    if snapshot_type and ("jpeg" in snapshot_type.lower() or "jpg" in snapshot_type.lower()):
        return ImageFormat.JPEG
    return default


def _encode(frame: av.VideoFrame, fmt: ImageFormat) -> bytes:
    if fmt is ImageFormat.JPEG:
        codec = av.CodecContext.create("mjpeg", "w")
        pix_fmt = "yuvj420p"
    else:
        codec = av.CodecContext.create("png", "w")
        pix_fmt = "rgb24"
    codec.width, codec.height, codec.pix_fmt = frame.width, frame.height, pix_fmt
    codec.time_base = Fraction(1, 30)
    # The frame is shared with the sender's encoder: read it, never change it.
    picture = frame.reformat(format=pix_fmt)
    packets = [*codec.encode(picture), *codec.encode(None)]
    return b"".join(bytes(p) for p in packets)


async def encode_image(frame: av.VideoFrame, fmt: ImageFormat) -> bytes:
    """The frame as a JPEG or PNG file, encoded off the event loop (a few ms per frame)."""
    return await asyncio.to_thread(_encode, frame, fmt)
