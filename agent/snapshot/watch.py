"""The viewer's side of a camera request: when did the picture show the change?

`CameraWatcher` is a video-frame callback for a `ViewPolicy` (`on_video_frame=watcher`, with
video decoded): it reads the camera state row of every frame it gets (`media.camera`) and
keeps the moments the state changed, so the time from a camera request to the first frame a
viewer received with the new camera or torch is a measurement, not a guess.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import av

from media.camera import CameraState, read_state

__all__ = ["CameraWatcher", "StateSeen"]


@dataclass(frozen=True, slots=True)
class StateSeen:
    state: CameraState
    received_at: float
    """`time.time()` when the first frame showing this state arrived."""


class CameraWatcher:
    """Camera state changes in the frames one participant receives (all of its viewed
    video streams: watch one camera stream per participant for unambiguous figures)."""

    def __init__(self) -> None:
        self.changes: list[StateSeen] = []
        self.frames_read = 0
        self.unreadable = 0
        self._changed = asyncio.Event()

    @property
    def state(self) -> CameraState | None:
        return self.changes[-1].state if self.changes else None

    def __call__(self, frame: av.VideoFrame, received_at: float) -> None:
        state = read_state(frame)
        if state is None:
            self.unreadable += 1
            return
        self.frames_read += 1
        if state != self.state:
            self.changes.append(StateSeen(state, received_at))
            self._changed.set()

    async def wait_for(
        self, wanted: Callable[[CameraState], bool], *, after: float, within: float
    ) -> StateSeen:
        """The first state change received at or after `after` (`time.time()`) that shows a
        wanted state; raises TimeoutError when none arrives `within` seconds."""

        async def first() -> StateSeen:
            while True:
                for seen in self.changes:
                    if seen.received_at >= after and wanted(seen.state):
                        return seen
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(first(), within)
