"""Counts that cannot be wrong silently: a viewed stream's totals never go down, whatever its
peer connections' counters do (a reconnection, a last sample after the link is gone)."""

from __future__ import annotations

from agent.scenario.results import StreamDirection
from agent.scenario.run_metrics import Total, ViewSeries, new_stream
from tests.test_load_sustained import track, view


def test_a_total_survives_a_counter_that_starts_again() -> None:
    total = Total()
    assert [total.read(n) for n in (10, 25, 0, 5, 5, 40)] == [10, 25, 25, 30, 30, 65]


def test_a_sample_after_the_link_is_gone_keeps_packets_and_frames() -> None:
    """2 of 36 viewed streams of a ramp run reported frames with `packets_received: 0`: the
    last sample, taken after the peer connection closed, overwrote the totals."""
    result = new_stream("s", StreamDirection.VIEW, "MIC_AND_CAM", 0.0, publisher="p")
    series = ViewSeries(result)
    series.take(view(track("video", 30, received=120, lost=2)), "video", 1.0)
    series.take(view(track("video", 60, received=240, lost=3)), "video", 2.0)
    series.take(view(track("video", 0, received=0, lost=0)), "video", 3.0)  # the link is gone
    assert (result.frames, result.packets_received, result.packets_lost) == (60, 240, 3)
    assert [sample.value for sample in result.fps] == [30.0, 0.0]  # never negative
    series.take(view(track("video", 30, received=100)), "video", 4.0)  # viewed again
    assert (result.frames, result.packets_received) == (90, 340)
