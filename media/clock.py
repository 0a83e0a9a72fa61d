"""A received stream's clock: the arrival time of each piece of media, from its media time.

On a busy machine decoded media reaches a reader in bursts, so the time a piece is read is
late by however long the reader waited. The media time (RTP timestamps, or samples counted)
runs at the sender's pace; the offset `arrival - media time` is smallest for the least-delayed
pieces. `ArrivalClock` keeps the smallest offset of the last `window` seconds of media and
stamps each piece with `media time + that offset`: its arrival as if nothing had waited."""

from __future__ import annotations

from collections import deque

__all__ = ["ArrivalClock"]


class ArrivalClock:
    def __init__(self, window: float = 1.0) -> None:
        self.window = window
        self._offsets: deque[tuple[float, float]] = deque()
        """(media time, offset) with increasing offsets: the window's minimum first."""

    def stamp(self, media_time: float, received_at: float) -> float:
        """The arrival time of the media at `media_time` (seconds), read at `received_at`."""
        offset = received_at - media_time
        offsets = self._offsets
        while offsets and offsets[-1][1] >= offset:
            offsets.pop()
        offsets.append((media_time, offset))
        while offsets[0][0] < media_time - self.window:
            offsets.popleft()
        return media_time + offsets[0][1]
