"""Drift watching for long runs (issue 16): what a process holds over time.

A kiosk runs for weeks, so what it leaks per fault or per hour matters more than any one
figure: resident memory, open file descriptors, threads, asyncio tasks and peer connections
are sampled (`DriftWatcher.take()`, or every `interval` seconds in the background) and their
growth and slope per hour read from the samples. Linux reads `/proc`; elsewhere memory is the
peak RSS from `getrusage` and descriptors are counted in `/dev/fd` when it exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FIELDS", "DriftWatcher", "ResourceSample", "sample", "slope_per_hour"]

FIELDS = ("rss_bytes", "fds", "threads", "tasks", "peer_connections")
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


@dataclass(frozen=True, slots=True)
class ResourceSample:
    at: float
    """Monotonic seconds."""
    rss_bytes: int
    fds: int
    threads: int
    tasks: int
    peer_connections: int


def _rss_bytes() -> int:
    statm = Path("/proc/self/statm")
    if statm.exists():
        return int(statm.read_text().split()[1]) * _PAGE
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


def _fds() -> int:
    for where in ("/proc/self/fd", "/dev/fd"):
        with contextlib.suppress(OSError):
            return len(os.listdir(where))
    return -1


def sample(peer_connections: int = 0) -> ResourceSample:
    """One sample now (from the event loop's thread, for the task count)."""
    try:
        tasks = len(asyncio.all_tasks())
    except RuntimeError:  # no running loop
        tasks = 0
    return ResourceSample(
        at=time.monotonic(),
        rss_bytes=_rss_bytes(),
        fds=_fds(),
        threads=threading.active_count(),
        tasks=tasks,
        peer_connections=peer_connections,
    )


class DriftWatcher:
    """Samples over time; `count_peer_connections` says how many the process holds (e.g. the
    sum of its participants' `peer_connection_count()`)."""

    def __init__(
        self,
        count_peer_connections: Callable[[], int] = lambda: 0,
        interval: float = 60.0,
        keep: int | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive, got {interval}")
        self.count_peer_connections = count_peer_connections
        self.interval = interval
        self.keep = keep
        """Keep the newest this many samples (None: all): a process that runs for weeks
        reads its drift over the recent ones."""
        self.samples: list[ResourceSample] = []
        self._task: asyncio.Task[None] | None = None

    def take(self) -> ResourceSample:
        taken = sample(self.count_peer_connections())
        self.samples.append(taken)
        if self.keep is not None and len(self.samples) > self.keep:
            del self.samples[: len(self.samples) - self.keep]
        return taken

    def start(self) -> None:
        """Sample every `interval` seconds until `stop()`."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="drift")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            self.take()
            await asyncio.sleep(self.interval)

    def growth(self, field: str, since: int = 0) -> float:
        """Last sample minus sample number `since` (0: the first)."""
        _check(field)
        if len(self.samples) <= since:
            return 0.0
        return float(getattr(self.samples[-1], field) - getattr(self.samples[since], field))

    def slope_per_hour(self, field: str) -> float | None:
        """Least-squares slope of `field` per hour over the samples (None: under two, or all
        at one moment)."""
        _check(field)
        return slope_per_hour([(s.at, float(getattr(s, field))) for s in self.samples])


def slope_per_hour(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope per hour of (seconds, value) points; None under two points or
    when all are at one moment."""
    if len(points) < 2:
        return None
    xs = [x for x, _ in points]
    ys = [y for _, y in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
    return slope * 3600.0


def _check(field: str) -> None:
    if field not in FIELDS:
        raise ValueError(f"unknown resource {field!r}; known: {', '.join(FIELDS)}")
