"""A track that can be muted like a browser's (`track.enabled = false`): it keeps sending,
at the source's pace and timestamps, but black pictures or digital silence.

Muting on the platform is only conference metadata (`TRACK_MUTED/...`); what viewers
receive changes only if the sender stops sending content, as a browser does."""

from __future__ import annotations

from typing import Any

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av.frame import Frame
from av.packet import Packet

from media.timecode import BLACK

__all__ = ["MutableTrack"]

CHROMA_NEUTRAL = 128


class MutableTrack(MediaStreamTrack):
    """Passes `source`'s frames through; while `muted`, blanks each one instead."""

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self.kind = source.kind
        self.source = source
        self.muted = False

    async def recv(self) -> Frame | Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self.source.recv()
        if not self.muted:
            return frame
        if isinstance(frame, av.VideoFrame):
            return _black_like(frame)
        if isinstance(frame, av.AudioFrame):
            return _silence_like(frame)
        raise TypeError(f"only decoded frames can be muted, not {type(frame).__name__}")

    def stop(self) -> None:
        super().stop()
        self.source.stop()


def _black_like(frame: av.VideoFrame) -> av.VideoFrame:
    width, height = frame.width - frame.width % 2, frame.height - frame.height % 2
    array = np.full((height * 3 // 2, width), CHROMA_NEUTRAL, dtype=np.uint8)
    array[:height] = BLACK
    black = av.VideoFrame.from_ndarray(array, format="yuv420p")
    black.pts = frame.pts
    black.time_base = frame.time_base
    return black


def _silence_like(frame: av.AudioFrame) -> av.AudioFrame:
    silent = av.AudioFrame(
        format=frame.format.name, layout=frame.layout.name, samples=frame.samples
    )
    for plane in silent.planes:
        plane.update(bytes(plane.buffer_size))
    silent.sample_rate = frame.sample_rate
    silent.pts = frame.pts
    silent.time_base = frame.time_base
    return silent
