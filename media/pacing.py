"""Real-time pacing shared by every source, so all of them hold the same clock discipline."""

from __future__ import annotations

import asyncio
import fractions
import time

VIDEO_CLOCK_RATE = 90_000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)
AUDIO_SAMPLE_RATE = 48_000
AUDIO_TIME_BASE = fractions.Fraction(1, AUDIO_SAMPLE_RATE)
AUDIO_PTIME = 0.020
AUDIO_SAMPLES_PER_FRAME = int(AUDIO_SAMPLE_RATE * AUDIO_PTIME)


def wall_ms() -> int:
    """Wall-clock milliseconds: the clock the timecode carries and the receiver compares with."""
    return time.time_ns() // 1_000_000


class Pacer:
    """Releases item `n` at `start + n / rate` of the monotonic clock.

    Sleeping towards an absolute schedule (instead of a fixed interval per item) keeps a
    source at its nominal rate on a loaded machine: a late item is followed by early ones.
    If the consumer falls behind by more than `max_lag` seconds the schedule is moved instead
    of bursting to catch up, which is what a camera would do.
    """

    def __init__(self, rate: float, max_lag: float = 1.0) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = rate
        self.max_lag = max_lag
        self._start: float | None = None
        self._index = 0
        self.due = 0.0
        """When the item `wait` last returned was due (monotonic): a source that is late
        stamps its content with this, not with when it got to run."""

    @property
    def index(self) -> int:
        """Number of items released so far."""
        return self._index

    async def wait(self) -> int:
        """Sleep until the next item is due and return its index (0, 1, 2...)."""
        now = time.monotonic()
        if self._start is None:
            self._start = now
        due = self._start + self._index / self.rate
        if now - due > self.max_lag:
            self._start = now - self._index / self.rate
        elif due > now:
            await asyncio.sleep(due - now)
        index = self._index
        self.due = self._start + index / self.rate
        self._index += 1
        return index
