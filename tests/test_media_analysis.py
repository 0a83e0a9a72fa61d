"""Frame timeline (fps, freezes, time to first frame), percentiles, levels."""

from __future__ import annotations

import math

import numpy as np
import pytest

from media.analysis import AudioLevels, FrameTimeline, Series, level_dbfs, percentiles


def test_steady_30fps_has_no_freeze() -> None:
    timeline = FrameTimeline(started_at=9.5)
    for index in range(91):
        timeline.add(10.0 + index / 30)
    assert timeline.fps == pytest.approx(30.0)
    assert timeline.freeze_count == 0
    assert timeline.time_to_first_frame == pytest.approx(0.5)


def test_freeze_follows_the_webrtc_definition() -> None:
    timeline = FrameTimeline()
    t = 0.0
    for _ in range(30):
        timeline.add(t)
        t += 1 / 30
    # At 30 fps the threshold is max(3 x 33 ms, 33 ms + 150 ms) = 183 ms.
    t += 0.170 - 1 / 30  # a 170 ms gap: long, but not a freeze
    for _ in range(30):
        timeline.add(t)
        t += 1 / 30
    assert timeline.freeze_count == 0
    t += 0.400 - 1 / 30  # a 400 ms gap: a freeze
    timeline.add(t)
    assert timeline.freeze_count == 1
    assert timeline.total_freeze_duration == pytest.approx(0.400)


def test_freeze_at_low_frame_rate_uses_three_intervals() -> None:
    timeline = FrameTimeline()
    for index in range(10):
        timeline.add(index * 0.2)  # 5 fps: threshold is 3 x 200 ms
    timeline.add(1.8 + 0.5)  # 500 ms gap: not a freeze at 5 fps
    timeline.add(2.3 + 0.7)  # 700 ms: a freeze
    assert [round(f.duration, 3) for f in timeline.freezes] == [0.7]


def test_percentiles_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentiles(values) == {"p50": 50, "p95": 95, "p99": 99}
    assert percentiles([]) == {"p50": None, "p95": None, "p99": None}
    assert percentiles([7.0]) == {"p50": 7.0, "p95": 7.0, "p99": 7.0}
    summary = Series()
    for v in (3.0, 1.0, 2.0):
        summary.add(v)
    assert summary.summary()["mean"] == 2.0 and summary.summary()["max"] == 3.0


def test_levels_and_silence() -> None:
    t = np.arange(48000) / 48000
    sine = np.sin(2 * np.pi * 1000 * t).astype(np.float32)
    assert level_dbfs(sine) == pytest.approx(-3.01, abs=0.05)
    assert level_dbfs(np.zeros(10, np.float32)) == -math.inf
    levels = AudioLevels()
    levels.add(sine[:960], 48000)
    levels.add(np.zeros(960, np.float32), 48000)
    levels.add(sine[:960] * 1e-4, 48000)  # -83 dBFS: silence
    assert levels.silence_ratio == pytest.approx(2 / 3)
