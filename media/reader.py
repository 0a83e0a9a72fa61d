"""Reading a remote track into sinks.

A remote track has one queue, so it can have one reader; the reader hands each item (decoded
frame, or `av.Packet` from a receiver that skips decoding) to every sink in turn, stamped with
its arrival time (wall clock, the clock the timecode uses). Recording, counting, analysing and
callbacks are sinks, so a viewer combines them freely on one track.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, TypeAlias

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

logger = logging.getLogger(__name__)

# av.Packet is generic only in PyAV's stubs, hence the string alias.
Item: TypeAlias = "av.VideoFrame | av.AudioFrame | av.Packet[Any]"


class Sink:
    """Something done with every item of a track. Subclasses override what they need."""

    async def consume(self, item: Item, received_at: float) -> None:
        """Handle one item; `received_at` is `time.time()` when the reader got it."""

    async def close(self) -> None:
        """The track ended or the reader stopped: flush files, finish computations."""


class TrackReader:
    """Reads `track` until it ends or `stop()`, feeding `sinks`.

    A sink that raises is logged and dropped, so one broken sink does not blind the others.
    """

    def __init__(self, track: MediaStreamTrack, sinks: list[Sink]) -> None:
        self.track = track
        self.sinks = list(sinks)
        self.items = 0
        self.ended = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> TrackReader:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def _run(self) -> None:
        try:
            while True:
                try:
                    item: Item = await self.track.recv()  # type: ignore[assignment]
                except MediaStreamError:
                    break
                received_at = time.time()
                self.items += 1
                for sink in list(self.sinks):
                    try:
                        await sink.consume(item, received_at)
                    except Exception:
                        logger.exception("sink %s failed; dropping it", type(sink).__name__)
                        self.sinks.remove(sink)
        finally:
            await self._close_sinks()
            self.ended.set()

    async def _close_sinks(self) -> None:
        for sink in self.sinks:
            try:
                await sink.close()
            except Exception:
                logger.exception("closing sink %s failed", type(sink).__name__)

    async def stop(self) -> None:
        """Stop reading and close the sinks (their files are complete when this returns)."""
        if self._task is None:
            return
        if not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.ended.wait()

    async def wait(self) -> None:
        """Until the track ends (e.g. the peer connection closed)."""
        await self.ended.wait()
