"""The "sustained" verdict of a load window: frames against the nominal rate, freeze time,
packet loss; what a stream missing at either end counts as."""

from __future__ import annotations

import pytest

from agent.load import Criteria, KindWindow, judge, kind_windows
from agent.participant import TrackMeasurements, ViewerMeasurements


def track(
    kind: str, frames: int, freeze_s: float = 0.0, received: int = 0, lost: int = 0
) -> TrackMeasurements:
    return TrackMeasurements(
        kind=kind,
        reception="light",
        frames=frames,
        time_to_first_frame_s=0.1,
        fps=0.0,
        freeze_count=0,
        total_freeze_s=freeze_s,
        delay_ms=None,
        level_dbfs=None,
        silence_ratio=None,
        packets_received=received,
        packets_lost=lost,
        jitter_s=None,
        recording=None,
    )


def view(*tracks: TrackMeasurements, at: float | None = None) -> ViewerMeasurements:
    return ViewerMeasurements(
        stream_id="s",
        stream_type="MIC_AND_CAM",
        publisher_endpoint_id=None,
        viewer_id="v",
        state="live",
        replacements=0,
        bitrate_bps=None,
        bytes_received=0,
        tracks={t.kind: t for t in tracks},
        measured_at=at,
    )


def test_a_full_window_is_sustained() -> None:
    before = {"a": view(track("video", 100, 0.0, 1000, 0), track("audio", 50, 0.0, 500, 0))}
    after = {"a": view(track("video", 400, 0.0, 4000, 1), track("audio", 550, 0.0, 1000, 0))}
    windows = kind_windows(before, after, seconds=10.0, video_fps=30.0)
    report = judge(windows)
    assert report.sustained, report.failures
    assert report.frame_ratio == {"audio": pytest.approx(1.0), "video": pytest.approx(1.0)}
    assert report.loss == pytest.approx(1 / 3501)


def test_each_stream_is_judged_over_the_time_between_its_own_measurements() -> None:
    """Measuring hundreds of viewers one after another takes seconds: a stream read late in
    both passes has its frames counted over its own span, not over the caller's window."""
    before = {
        "early": view(track("audio", 0), at=100.0),
        "late": view(track("audio", 0), at=102.0),
    }
    after = {
        "early": view(track("audio", 500), at=110.0),
        "late": view(track("audio", 480), at=114.0),  # 12 s: 480 of 600 is too few
    }
    report = judge(kind_windows(before, after, seconds=10.0, video_fps=30.0))
    assert report.worst_frame_ratio == {"audio": pytest.approx(480 / 600)}
    assert not report.sustained
    # Without the times, both would be judged over the caller's 10 s and pass.
    untimed = {k: view(*v.tracks.values()) for k, v in after.items()}
    assert judge(kind_windows(before, untimed, seconds=10.0, video_fps=30.0)).sustained


def test_each_criterion_fails_on_its_own() -> None:
    def verdict(frames: int, freeze_s: float, lost: int) -> list[str]:
        before = {"a": view(track("video", 0))}
        after = {"a": view(track("video", frames, freeze_s, 1000 - lost, lost))}
        return judge(kind_windows(before, after, 10.0, 30.0)).failures

    assert verdict(300, 0.0, 0) == []
    assert verdict(284, 0.0, 0) == ["video frames 94.7% of nominal"]
    assert verdict(300, 0.1, 0) == ["video frozen 1.00% of the time"]
    assert verdict(300, 0.0, 5) == ["packet loss 0.50%"]


def test_missing_streams_count_as_nothing_arrived() -> None:
    # One stream ended during the window, one began: neither gets a free pass.
    before = {"gone": view(track("video", 100))}
    after = {"new": view(track("video", 300))}
    windows = kind_windows(before, after, 10.0, 30.0)
    assert sorted(w.frames for w in windows) == [0, 300]
    report = judge(windows)
    assert not report.sustained
    assert report.worst_frame_ratio["video"] == 0.0
    assert report.frame_ratio["video"] == pytest.approx(0.5)


def test_no_stream_at_all_is_not_sustained() -> None:
    assert judge([]).failures == ["no stream was viewed"]


def test_stricter_criteria() -> None:
    window = KindWindow("video", 290, 300.0, 0.0, 10.0, 1000, 0)
    assert judge([window]).sustained
    assert not judge([window], Criteria(min_frame_ratio=0.99)).sustained
