"""Counts that cannot be wrong silently (issue 15, item 1), as a real 200-participant run
showed them: a participant the run ended before it joined, and an audio-only view that
received nothing. One short real run (the local platform, aiortc on loopback) of a `MIC`
publisher viewed by three listeners: one hears it, one behind a link that drops every
packet down (`loss: 100%`: it connects nothing, yet records no error), one that would join
after the run ends. Each expectation must say what it covered and fail on what it missed."""

from __future__ import annotations

import io
import re
from pathlib import Path

from agent.scenario.expect import Evaluation, Expectation, evaluate
from agent.scenario.live import snapshot_of_results
from agent.scenario.loader import parse_scenario
from agent.scenario.metrics import METRICS
from agent.scenario.report.summary import metric_table
from agent.scenario.report.worst import rank_streams
from agent.scenario.results import RunResult, StreamDirection
from agent.scenario.runner import ScenarioRun
from server.embedded import EmbeddedServer
from tests.test_scenario_run import options, write

CALL = """
name: audio-coverage
duration: 8s
participants:
  - name: talker
    publish: [{type: MIC}]
    view: none
  - name: ears
    view: all
  - name: deaf
    view: all
    network: {profile: {down: {loss: 100%}}}
  - name: late
    view: all
    timeline:
      - {do: sleep, duration: 20s}
      - {do: join}
expect:
  join_time: {p95: "< 5s"}
  view_time: {p95: "< 5s"}
  media_gap: {max: "< 2s"}
  conditions: [no_errors, every_viewer_received_every_publisher]
"""

_RUN: dict[str, tuple[RunResult, str]] = {}


async def run(server: EmbeddedServer, tmp_path: Path) -> tuple[RunResult, str]:
    """The run and its progress lines, made once for the module's tests (8 s)."""
    if not _RUN:
        progress = io.StringIO()
        scenario = write(tmp_path, CALL)
        ran = ScenarioRun(scenario, options(server, quiet=False, progress=progress))
        _RUN["run"] = (await ran.execute(), progress.getvalue())
    return _RUN["run"]


def judged(result: RunResult, text: str = CALL) -> Evaluation:
    return evaluate(parse_scenario(text, "audio-coverage.yaml"), result)


def case(evaluation: Evaluation, name: str) -> Expectation:
    return next(e for e in evaluation.expectations if e.name.startswith(name))


async def test_a_participant_the_run_ended_before_it_joined_is_counted_and_an_error(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    result, _ = await run(server, tmp_path)
    assert [p.name for p in result.participants if p.joined_at is None] == ["late-0"]
    evaluation = judged(result)
    join = case(evaluation, "join_time")
    assert (join.covered, join.population) == (3, 4), join.message
    assert "from 3 of 4 participants" in join.message
    assert not join.passed and join.details == ["no value from late-0"]
    # The report names who and why: an error of its own, so `no_errors` fails on it.
    late = next(p for p in result.participants if p.name == "late-0")
    assert [(e.step, e.message.split(" (")[0]) for e in late.errors] == [
        ("join", "did not join before the run ended")
    ]
    errors = case(evaluation, "no_errors")
    assert not errors.passed
    assert [d.split(" (")[0] for d in errors.details] == [
        "late-0: did not join before the run ended"
    ]
    # Unless the scenario says otherwise: 3 of 4 is enough at `coverage: 75%`.
    lenient = CALL.replace("expect:\n", "expect:\n  coverage: 0.75\n")
    assert case(judged(result, lenient), "join_time").passed


async def test_an_audio_view_that_received_nothing_is_an_outage_and_ranked_worst(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    result, _ = await run(server, tmp_path)
    gaps = {v.participant: v.value for v in METRICS["media_gap"].extract(result, 0.0)}
    assert gaps.keys() == {"ears-0", "deaf-0"}, gaps
    assert gaps["ears-0"] < 2.0 and gaps["deaf-0"] > 3.0, gaps  # 8 s run, 3 s grace
    evaluation = judged(result)
    assert not case(evaluation, "media_gap").passed
    received = case(evaluation, "every_viewer_received_every_publisher")
    assert not received.passed
    assert received.details == [
        next(d for d in received.details if d.startswith("deaf-0 did not receive talker-0 MIC"))
    ], received.details
    # It never connected (no packet came back) and said nothing: its view time is missing.
    view = case(evaluation, "view_time")
    assert (view.covered, view.population) == (1, 2) and not view.passed, view.message
    assert [d.split(" stream ")[0] for d in view.details] == ["no value from deaf-0"]
    worst = rank_streams(result, metric_table(result, 0.0))[0]
    assert (worst.participant.name, worst.reason) == ("deaf-0", "media_gap")


async def test_the_progress_line_counts_audio_views_that_receive_packets(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    result, progress = await run(server, tmp_path)
    lines = re.findall(r"flowing (\d+)/(\d+) viewed", progress)
    assert lines, progress
    # About 6 s in: ears-0 hears; deaf-0 hears nothing (still connecting: viewed all the same).
    flowing, viewed = map(int, lines[-1])
    assert (flowing, viewed) == (1, 2), progress
    # The live snapshot (`--workers` progress, Prometheus) counts alike: the streams as they
    # were at ears-0's last look with packets, before the end closed them.
    live = result.model_copy(deep=True)
    views = [s for p in live.participants for s in p.streams if s.direction is StreamDirection.VIEW]
    for stream in views:
        stream.ended_at = None
    last = max(sample.t for stream in views for sample in stream.loss)
    snapshot = snapshot_of_results(live.participants, present=4, end=last)
    assert (snapshot.streams_flowing, snapshot.streams_viewed) == (1, 2)
