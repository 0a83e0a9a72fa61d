"""The run's one clock: seconds since the run started, for every record and sample.

Media sinks stamp frames with wall-clock time (`time.time()`); `from_wall` puts those on
the same axis. `scale` compresses the scenario's own times (steps, phases, durations) for
quick runs; timeouts and the expectations' warm-up are not scaled."""

from __future__ import annotations

import asyncio
import time

__all__ = ["RunClock"]


class RunClock:
    def __init__(self, scale: float = 1.0) -> None:
        if scale <= 0:
            raise ValueError(f"the time scale must be positive, got {scale}")
        self.scale = scale
        self._monotonic = time.monotonic()
        self._wall = time.time()

    @property
    def origin(self) -> float:
        """`time.monotonic()` when the run started."""
        return self._monotonic

    def now(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self._monotonic

    def from_wall(self, wall: float) -> float:
        """A wall-clock timestamp as seconds since the run started."""
        return wall - self._wall

    def scaled(self, seconds: float) -> float:
        """A time written in the scenario, as this run plays it."""
        return seconds * self.scale

    async def sleep_until(self, t: float) -> None:
        """Sleep until run time `t` (at once if it has passed)."""
        delay = t - self.now()
        if delay > 0:
            await asyncio.sleep(delay)
