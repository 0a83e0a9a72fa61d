"""Counts that cannot be wrong silently: a viewed stream's totals never go down, whatever its
peer connections' counters do (a reconnection, a last sample after the link is gone); a call
whose media stopped does not pass, and says when media flowed."""

from __future__ import annotations

import pytest

from agent.scenario.expect import evaluate
from agent.scenario.metrics import METRICS
from agent.scenario.results import RunResult, Sample, StreamDirection
from agent.scenario.run_metrics import Total, ViewSeries, new_stream
from tests.scenario_results_support import run, scenario
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


def killed_mid_call(resumed_at: float | None = None) -> RunResult:
    """The platform killed 6 s into a 45.5 s call: both views stop receiving while both
    participants stay in the call and keep publishing (no freeze ends, so none is recorded),
    as a run reported PASS 5/5 with `freeze_total` 0 ms."""
    result = run(duration=45.5)
    for participant in result.participants:
        participant.left_at = None
        for stream in participant.streams:
            if stream.direction is StreamDirection.VIEW:
                stream.freezes = []
                stream.fps = [
                    Sample(t=float(t), value=30.0 if t <= 6 or (resumed_at or 99) <= t else 0.0)
                    for t in range(2, 46)
                ]
    return result


def test_a_call_that_died_does_not_pass_and_says_when_media_flowed() -> None:
    expect = {"conditions": ["every_viewer_received_every_publisher"]}
    evaluation = evaluate(scenario(expect), killed_mid_call())
    received = {e.name: e for e in evaluation.expectations}["every_viewer_received_every_publisher"]
    assert not received.passed
    assert "agent-0 received no customer-0 MIC_AND_CAM from 6.0s to 45.5s" in received.details[0]
    assert "media flowed 1.0s to 6.0s" in received.details[0]
    # A short stop is no outage for the condition, but the time without media is measured.
    assert evaluate(scenario(expect), killed_mid_call(resumed_at=12.0)).passed


def resumed_under_new_ids(at: float) -> RunResult:
    """The call of `killed_mid_call`, whose participants came back at `at` (re-registered,
    rejoined, republished): the platform gave each stream a new id, the viewers view those
    anew, and the old views got nothing more. A run read this as no media from 11 s to the
    end (media_gap 34 s) while media flowed again from 25 s."""
    result = killed_mid_call()
    for participant in result.participants:
        published, old = participant.streams[0], participant.streams[1]
        published.earlier_ids = [published.stream_id]
        published.stream_id += "-again"
        again = [Sample(t=float(t), value=30.0) for t in range(int(at) + 1, 46)]
        update = {"stream_id": old.stream_id + "-again", "started_at": at, "fps": again}
        participant.streams.append(old.model_copy(update=update))
    return result


def test_a_stream_published_again_under_a_new_id_is_the_same_stream() -> None:
    expect = {"conditions": ["every_viewer_received_every_publisher"]}
    assert evaluate(scenario(expect), resumed_under_new_ids(12.0)).passed  # a 6 s stop
    gaps = [v.value for v in METRICS["media_gap"].extract(resumed_under_new_ids(12.0), 0.0)]
    assert gaps == [pytest.approx(6.5), pytest.approx(6.5)]  # 6 s to 12 s, 45 s to 45.5 s
    late = evaluate(scenario(expect), resumed_under_new_ids(20.0))
    [received] = [e for e in late.expectations if e.name.startswith("every_viewer")]
    assert not received.passed
    assert "received no customer-0 MIC_AND_CAM from 6.0s to 20.0s" in received.details[0]
    assert "media flowed 1.0s to 6.0s, 20.0s to 45.0s" in received.details[0]


def test_a_partial_merge_says_which_shards_it_was_judged_without() -> None:
    result = run()
    result.shards = ["0/3", "2/3"]
    completed = evaluate(scenario({}), result).expectations[0]
    assert completed.passed
    assert completed.message == "judged on 2 of 3 shards: shard(s) 1/3 missing"


def test_time_without_media_in_a_call_is_measured_and_bounded() -> None:
    gaps = [v.value for v in METRICS["media_gap"].extract(killed_mid_call(), 0.0)]
    assert gaps == [pytest.approx(39.5), pytest.approx(39.5)]
    assert [v.value for v in METRICS["media_gap"].extract(run(), 0.0)] == [1.0, 1.0]
    bounded = scenario({"media_gap": {"max": "< 2s"}})
    assert not evaluate(bounded, killed_mid_call()).passed
    assert evaluate(bounded, run()).passed


def test_an_expectation_says_what_it_covered_and_fails_on_a_subset() -> None:
    """A viewed stream with frames and `packets_received: 0` dropped out of `packet_loss`
    silently: the threshold was judged on a subset and passed."""
    expect: dict[str, object] = {"packet_loss": {"overall": "< 2%"}}
    whole = {e.name: e for e in evaluate(scenario(expect), run()).expectations}
    assert "from 2 of 2 streams" in whole["packet_loss overall < 2%"].message
    lying = run()
    lying.participants[1].streams[1].packets_received = 0
    lying.participants[1].streams[1].packets_lost = 0
    case = {e.name: e for e in evaluate(scenario(expect), lying).expectations}
    loss = case["packet_loss overall < 2%"]
    assert not loss.passed and (loss.covered, loss.population) == (1, 2)
    assert "covers only 1 of 2 streams" in loss.message
    assert loss.details == ["no value from customer-0 stream s-agent (← agent-0 MIC_AND_CAM)"]
    expect["coverage"] = 0.5  # the scenario says a half will do
    assert evaluate(scenario(expect), lying).passed
