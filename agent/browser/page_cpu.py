"""How busy each open browser page is, for the load generator's health (`agent.scenario.health`).

Chromium's `Performance.getMetrics` (over CDP) gives `TaskDuration`, the seconds the page's
main thread spent running tasks so far, and `Timestamp`: between two readings their ratio is
the page's CPU share on the thread that runs its script, its WebRTC glue and its rendering.
A page at a full core there lags as an overloaded agent process does.
"""

from __future__ import annotations

import contextlib
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.async_api import CDPSession, Page

__all__ = ["PageCpu", "open_page", "pages_cpu"]


class PageCpu:
    """One page's CPU share between two readings (the first reading gives none)."""

    def __init__(self, name: str, page: Page) -> None:
        self.name = name
        self.page = page
        self._session: CDPSession | None = None
        self._last: tuple[float, float] | None = None

    async def share(self) -> float | None:
        if self._session is None:
            self._session = await self.page.context.new_cdp_session(self.page)
            await self._session.send("Performance.enable")
        reply = await self._session.send("Performance.getMetrics")
        metrics = {m["name"]: float(m["value"]) for m in reply.get("metrics", [])}
        reading = metrics.get("TaskDuration"), metrics.get("Timestamp")
        if reading[0] is None or reading[1] is None:
            return None
        now = (reading[0], reading[1])
        last, self._last = self._last, now
        if last is None or now[1] <= last[1]:
            return None
        return max(0.0, (now[0] - last[0]) / (now[1] - last[1]))


_OPEN: weakref.WeakSet[PageCpu] = weakref.WeakSet()


def open_page(name: str, page: Page) -> PageCpu:
    """Watch `page` until the returned object is dropped (its page closed)."""
    watched = PageCpu(name, page)
    _OPEN.add(watched)
    return watched


async def pages_cpu() -> dict[str, float]:
    """The CPU share of every open page of this process since the previous call, by name.

    A page that closed meanwhile, or cannot answer, is left out."""
    shares: dict[str, float] = {}
    for watched in list(_OPEN):
        if watched.page.is_closed():
            _OPEN.discard(watched)
            continue
        with contextlib.suppress(Exception):  # closing under us: nothing to measure
            share = await watched.share()
            if share is not None:
                shares[watched.name] = share
    return shares
