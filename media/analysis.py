"""Measurements computed from what a receiver sees (aiortc's getStats has no frame statistics).

Pure computations over timestamps and samples, with no aiortc in them, so they can be tested
and reused (by sinks, reports and the server) without a peer connection.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import av
import numpy as np
import numpy.typing as npt

FREEZE_MIN_EXTRA = 0.150
FREEZE_WINDOW = 30
SILENCE_DBFS = -50.0


def percentiles(
    values: Iterable[float], points: Sequence[float] = (50, 95, 99)
) -> dict[str, float | None]:
    """`{"p50": ..., "p95": ..., "p99": ...}` (nearest-rank), None for an empty series."""
    data = sorted(values)
    out: dict[str, float | None] = {}
    for point in points:
        key = f"p{point:g}"
        if not data:
            out[key] = None
            continue
        rank = max(1, math.ceil(point / 100 * len(data)))
        out[key] = data[min(rank, len(data)) - 1]
    return out


@dataclass(frozen=True)
class Freeze:
    start: float
    duration: float


class FrameTimeline:
    """Arrival times of a stream's frames: time to first frame, frame rate, freezes.

    A freeze is an inter-frame gap longer than max(3 x the average interval, the average +
    150 ms), the average taken over the preceding `FREEZE_WINDOW` intervals; this is the
    definition of WebRTC's `freezeCount`/`totalFreezesDuration` statistics.
    """

    def __init__(self, started_at: float | None = None) -> None:
        self.started_at = started_at
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.frames = 0
        self.freezes: list[Freeze] = []
        self._intervals: deque[float] = deque(maxlen=FREEZE_WINDOW)

    def add(self, at: float) -> None:
        if self.last_at is None:
            self.first_at = at
        else:
            gap = at - self.last_at
            if self._intervals:
                average = sum(self._intervals) / len(self._intervals)
                if gap > max(3 * average, average + FREEZE_MIN_EXTRA):
                    self.freezes.append(Freeze(self.last_at, gap))
            self._intervals.append(gap)
        self.last_at = at
        self.frames += 1

    @property
    def time_to_first_frame(self) -> float | None:
        """Seconds from `started_at` (e.g. when viewing was requested) to the first frame."""
        if self.first_at is None or self.started_at is None:
            return None
        return self.first_at - self.started_at

    @property
    def fps(self) -> float:
        if self.first_at is None or self.last_at is None or self.last_at <= self.first_at:
            return 0.0
        return (self.frames - 1) / (self.last_at - self.first_at)

    @property
    def freeze_count(self) -> int:
        return len(self.freezes)

    @property
    def total_freeze_duration(self) -> float:
        return sum(f.duration for f in self.freezes)


class Series:
    """A series of measurements (e.g. delays in ms) with its summary."""

    def __init__(self) -> None:
        self.values: list[float] = []

    def add(self, value: float) -> None:
        self.values.append(value)

    def summary(self) -> dict[str, float | None]:
        values = self.values
        return {
            "count": float(len(values)),
            "min": min(values) if values else None,
            "mean": sum(values) / len(values) if values else None,
            "max": max(values) if values else None,
            **percentiles(values),
        }


def mono_samples(frame: av.AudioFrame) -> npt.NDArray[np.float32]:
    """A decoded audio frame as mono float32 in [-1, 1], whatever its layout and format."""
    array = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        mono = array.mean(axis=0)
    else:
        mono = array.reshape(-1, channels).mean(axis=1)
    if array.dtype == np.int16:
        mono = mono / 32768.0
    elif array.dtype == np.int32:
        mono = mono / 2147483648.0
    return np.asarray(mono, dtype=np.float32)


LEVEL_FLOOR_DBFS = -120.0
"""Where levels stop: digital silence has no level in dB (-inf), and a report needs a number."""


def energy_dbfs(energy: float, seconds: float) -> float:
    """The RMS level (dBFS, floored) of `seconds` of sound holding `energy` (mean square times
    seconds, as `AudioLevels.total_energy` and WebRTC's `totalAudioEnergy` count it)."""
    if seconds <= 0 or energy <= 0:
        return LEVEL_FLOOR_DBFS
    return max(LEVEL_FLOOR_DBFS, 10 * math.log10(energy / seconds))


def level_dbfs(samples: npt.NDArray[np.float32]) -> float:
    """RMS level in dBFS (a full-scale sine is -3 dBFS); -inf for digital silence."""
    if samples.size == 0:
        return -math.inf
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return 20 * math.log10(rms) if rms > 0 else -math.inf


class AudioLevels:
    """Per-frame levels of a stream and how much of it was silent.

    `total_energy` is WebRTC's `totalAudioEnergy` (the mean square of each frame times its
    seconds, summed): its growth over the growth of `total_seconds` is the mean square over
    any interval, so a sampler takes the level of each second from two readings."""

    def __init__(self, silence_dbfs: float = SILENCE_DBFS) -> None:
        self.silence_dbfs = silence_dbfs
        self.levels = Series()
        self.total_seconds = 0.0
        self.silent_seconds = 0.0
        self.total_energy = 0.0

    def add(self, samples: npt.NDArray[np.float32], sample_rate: int) -> float:
        level = level_dbfs(samples)
        seconds = samples.size / sample_rate
        self.total_seconds += seconds
        self.total_energy += float(np.dot(samples, samples)) / sample_rate
        if level < self.silence_dbfs:
            self.silent_seconds += seconds
        self.levels.add(max(level, LEVEL_FLOOR_DBFS))
        return level

    @property
    def silence_ratio(self) -> float:
        return self.silent_seconds / self.total_seconds if self.total_seconds else 0.0


class ToneOnsetDetector:
    """Finds the onsets of a tone of known frequency in a stream of samples.

    Works on 5 ms blocks: a block is "tone" when the tone's DFT bin holds most of the block's
    energy and the block is above `min_dbfs`. An onset is a tone block after at least
    `min_gap` seconds of no tone; its time is the arrival time of the block's first sample.
    """

    def __init__(
        self,
        tone_hz: float,
        sample_rate: int,
        min_gap: float = 0.3,
        min_dbfs: float = -40.0,
        block_ms: float = 5.0,
    ) -> None:
        self.sample_rate = sample_rate
        self.block = int(sample_rate * block_ms / 1000)
        n = np.arange(self.block)
        self._probe = np.exp(-2j * np.pi * tone_hz * n / sample_rate)
        self.min_gap = min_gap
        self.min_dbfs = min_dbfs
        self.onsets: list[float] = []
        self._buffer = np.zeros(0, dtype=np.float32)
        self._buffer_at = 0.0
        self._last_tone_at = -math.inf

    def add(self, samples: npt.NDArray[np.float32], arrived_at: float) -> list[float]:
        """Feed samples whose first one arrived at `arrived_at`; return onsets found in them."""
        if self._buffer.size == 0:
            self._buffer_at = arrived_at
        self._buffer = np.concatenate([self._buffer, samples])
        found: list[float] = []
        usable = self._buffer.size // self.block * self.block
        blocks = self._buffer[:usable].reshape(-1, self.block)
        for index, block in enumerate(blocks):
            at = self._buffer_at + index * self.block / self.sample_rate
            energy = float(np.dot(block, block))
            if energy <= 0 or level_dbfs(block) < self.min_dbfs:
                continue
            tone = abs(complex(np.dot(block, self._probe))) ** 2 * 2 / self.block
            if tone / energy < 0.5:
                continue
            if at - self._last_tone_at >= self.min_gap:
                found.append(at)
            self._last_tone_at = at
        self._buffer = self._buffer[usable:]
        self._buffer_at += usable / self.sample_rate
        self.onsets.extend(found)
        return found


def mark_delay(onset_at: float, interval: float) -> float | None:
    """Delay of a mark scheduled at a wall-clock multiple of `interval`, None if ambiguous."""
    delay = onset_at % interval
    return delay if delay < interval / 2 else None
