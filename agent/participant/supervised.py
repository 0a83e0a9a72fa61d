"""What a publisher and a viewer share: keep one live peer connection, replace it when lost.

A stream connects with bounded retries and backoff; once connected it is watched, and a lost
connection (failed, or closed by the platform) is torn down on both sides and replaced the
same way. The caller sees a gap in the media and a `replace-*` record, nothing more. When the
platform answers that the stream or the participation no longer exists (403/404/409/410),
retrying cannot help: the stream ends as "gone".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from dataclasses import asdict
from enum import StrEnum
from typing import Any

from agent.api.errors import ApiError
from agent.participant.heap import release_after_fault
from agent.participant.link import MediaLink
from agent.participant.policy import RetryPolicy
from agent.participant.records import Timeline, describe

__all__ = ["GONE_STATUSES", "StreamState", "SupervisedStream", "is_gone"]

log = logging.getLogger(__name__)

GONE_STATUSES = frozenset({403, 404, 409, 410})


def is_gone(exc: BaseException) -> bool:
    """The platform says what this call is about no longer exists (or never will for us)."""
    return isinstance(exc, ApiError) and exc.status in GONE_STATUSES


class StreamState(StrEnum):
    NEW = "new"
    CONNECTING = "connecting"
    LIVE = "live"
    REPLACING = "replacing"
    GONE = "gone"
    """The platform no longer has the stream or the participation."""
    FAILED = "failed"
    """Every retry failed."""
    STOPPED = "stopped"


class SupervisedStream(ABC):
    """One published or viewed stream and its current `MediaLink`."""

    action = "stream"
    """The record name of a connection: "publish" or "view" ("replace-..." on replacement)."""

    def __init__(self, timeline: Timeline, retry: RetryPolicy) -> None:
        self.timeline = timeline
        self.retry = retry
        self.state = StreamState.NEW
        self.replacements = 0
        self.link: MediaLink | None = None
        self.last_error: str | None = None
        self.ended = asyncio.Event()
        """Set when the stream is over for good (stopped, gone or failed)."""
        self._supervisor: asyncio.Task[None] | None = None
        self._concluded = False

    @property
    def peer_connections(self) -> int:
        """Open peer connections this stream holds (0 or 1)."""
        return int(self.link is not None and self.link.open)

    async def start(self) -> None:
        """Connect (with retries); then keep the connection alive in the background.

        Raises the last error when no attempt connected; the stream is then over."""
        try:
            await self._establish("")
        except BaseException as exc:
            await self._teardown()
            if isinstance(exc, asyncio.CancelledError):
                await self._conclude(StreamState.STOPPED)
            else:
                gone = self.state is StreamState.GONE
                await self._conclude(StreamState.GONE if gone else StreamState.FAILED)
            raise
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    async def stop(self) -> None:
        """Close the peer connection and release the stream on the platform. Idempotent."""
        await self._stop_supervising()
        await self._teardown()
        await self._conclude(StreamState.STOPPED)

    async def drop(self) -> None:
        """Close locally only: the platform already removed the stream (conference ended,
        participant left or expired), so there is nothing to release there."""
        await self._stop_supervising()
        await self._teardown(release=False)
        await self._conclude(StreamState.GONE)
        release_after_fault()  # the other side's fault: free its connection here too

    # --- for subclasses ----------------------------------------------------------------------

    @abstractmethod
    async def _open(self) -> MediaLink:
        """Create the peer connection, set `self.link` at once (so a stop can close it),
        negotiate it with the platform, and return it."""

    @abstractmethod
    async def _release(self) -> None:
        """Tell the platform the current stream/viewer is over (a 404 means already gone)."""

    def _retired(self, link: MediaLink) -> None:  # noqa: B027 (optional hook)
        """A link was closed (its last statistics sampled): carry its counters over."""

    async def _finished(self) -> None:  # noqa: B027 (optional hook)
        """The stream is over for good: finish what outlives connections (sinks, files)."""

    def _details(self) -> dict[str, Any]:
        """Ids for the records."""
        return {}

    # --- internals ---------------------------------------------------------------------------

    async def _establish(self, prefix: str) -> None:
        for attempt in range(self.retry.attempts):
            if attempt:
                await asyncio.sleep(self.retry.delay(attempt - 1))
            self.state = StreamState.CONNECTING
            try:
                await self._connect_once(prefix + self.action)
                self.state = StreamState.LIVE
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_error = describe(exc)
                await self._teardown()
                if is_gone(exc):
                    self.state = StreamState.GONE
                    raise
                if attempt + 1 >= self.retry.attempts:
                    raise
                log.info("%s failed (attempt %d): %s", self.action, attempt + 1, exc)

    async def _connect_once(self, step: str) -> None:
        with self.timeline.step(step, **self._details()) as record:
            link = await self._open()
            await link.wait_connected(self.retry.connect_timeout)
            record.details.update(self._details())
            record.details.update(asdict(link.timings))

    async def _stop_supervising(self) -> None:
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None and supervisor is not asyncio.current_task():
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor

    async def _teardown(self, *, release: bool = True) -> None:
        link, self.link = self.link, None
        if link is not None:
            await link.close()
            self._retired(link)
        if not release:
            return
        try:
            await self._release()
        except Exception as exc:
            if not is_gone(exc):
                log.warning("%s: releasing on the platform failed: %s", self.action, exc)
                self.timeline.note(f"release-{self.action}", ok=False, error=describe(exc))

    async def _supervise(self) -> None:
        try:
            while True:
                link = self.link
                if link is None:
                    return
                await link.lost.wait()
                reason = link.lost_reason or "lost"
                self.timeline.note(f"lost-{self.action}", reason=reason, **self._details())
                log.info("%s: peer connection %s; replacing it", self.action, reason)
                self.state = StreamState.REPLACING
                await self._teardown()
                del link  # so the closed connection is free when the heap is trimmed below
                try:
                    await self._establish("replace-")
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self.last_error = describe(exc)
                    self._supervisor = None  # nothing left to cancel
                    await self._conclude(StreamState.GONE if is_gone(exc) else StreamState.FAILED)
                    return
                self.replacements += 1
                # The lost connection is garbage in reference cycles: free it, give it back.
                release_after_fault()
        finally:
            if self._supervisor is asyncio.current_task():
                self._supervisor = None

    async def _conclude(self, state: StreamState) -> None:
        if self._concluded:
            return
        self._concluded = True
        self.state = state
        try:
            await self._finished()
        finally:
            self.ended.set()
