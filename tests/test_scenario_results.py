"""Expectations and reports, from synthetic results built here (no runner needed)."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from agent.scenario.expect import evaluate
from agent.scenario.metrics import METRICS, percentile
from agent.scenario.outcome import ExitCode, conclude
from agent.scenario.report import write_reports
from agent.scenario.report.html import render_html
from agent.scenario.report.json_report import build_json
from agent.scenario.report.junit import render_junit
from agent.scenario.results import (
    ErrorRecord,
    RoundTrip,
    RunResult,
    Sample,
    StepRecord,
)
from tests.scenario_results_support import EXPECT, drifting_process, run, scenario


def by_name(expect: dict[str, Any], result: RunResult | None = None) -> dict[str, Any]:
    evaluation = evaluate(scenario(expect), result or run())
    return {e.name: e for e in evaluation.expectations}


def test_percentile_interpolates_like_numpy() -> None:
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([0.4, 0.9], 95) == pytest.approx(0.875)
    assert percentile([7], 99) == 7


def test_thresholds_pass_and_fail_with_measured_values() -> None:
    results = by_name({"join_time": {"p95": "< 1s", "max": "< 500ms"}})
    passed = results["join_time p95 < 1s"]
    assert passed.passed and passed.measured == pytest.approx(0.875)
    assert passed.measured_text == "875ms"
    failed = results["join_time max < 500ms"]
    assert not failed.passed
    assert "measured max 900ms" in failed.message and "< 500ms" in failed.message


def test_warmup_drops_early_stream_samples() -> None:
    cold = by_name({"video_fps": {"min": "> 20"}})["video_fps min > 20"]
    assert not cold.passed and cold.measured == 5.0
    warm = by_name({"warmup": "3s", "video_fps": {"min": "> 20"}})["video_fps min > 20"]
    assert warm.passed and warm.measured == 30.0


def test_delay_freezes_loss_and_round_trips() -> None:
    results = by_name(
        {
            "delay": {"p95": "< 200ms"},
            "freeze_total": {"max": "< 1s"},
            "freeze_count": {"total": "== 2"},
            "packet_loss": {"overall": "< 2%"},
            "snapshot_round_trip": {"p95": "< 1s", "count": ">= 1"},
            "bitrate": {"mean": "> 500k"},
        }
    )
    assert results["delay p95 < 200ms"].passed
    assert results["freeze_total max < 1s"].measured == pytest.approx(0.5)
    assert results["freeze_count total == 2"].passed
    assert results["packet_loss overall < 2%"].measured == pytest.approx(0.01)
    assert not results["snapshot_round_trip p95 < 1s"].passed
    assert results["snapshot_round_trip count >= 1"].passed
    assert results["bitrate mean > 500k"].passed


def test_nothing_measured_fails_rather_than_passes() -> None:
    silent = run()
    silent.participants[0].camera_requests.clear()
    result = by_name({"camera_round_trip": {"max": "< 5s"}}, silent)["camera_round_trip max < 5s"]
    assert not result.passed and "nothing was measured" in result.message


def test_error_rate_and_no_errors() -> None:
    broken = run()
    customer = broken.participants[1]
    customer.steps.append(StepRecord(t=5.0, kind="publish", duration=0.1, ok=False))
    customer.errors.append(ErrorRecord(t=5.0, step="publish", message="publishStream: 500"))
    results = by_name(
        {"error_rate": {"overall": "< 10%", "max": "< 10%"}, "conditions": ["no_errors"]}, broken
    )
    assert results["error_rate overall < 10%"].measured == pytest.approx(1 / 3)
    assert results["error_rate max < 10%"].measured == pytest.approx(0.5)
    no_errors = results["no_errors"]
    assert not no_errors.passed and "publishStream: 500" in no_errors.message


def test_every_viewer_received_every_publisher() -> None:
    condition = {"conditions": ["every_viewer_received_every_publisher"]}
    assert by_name(condition)["every_viewer_received_every_publisher"].passed
    blind = run()
    blind.participants[1].streams[1].frames = 0
    failed = by_name(condition, blind)["every_viewer_received_every_publisher"]
    assert not failed.passed
    assert failed.details == [
        "customer-0 did not receive agent-0 MIC_AND_CAM between 1.0s and 21.0s"
    ]


def test_conditions_on_joins_and_snapshots() -> None:
    late = run()
    late.participants[1].joined_at = None
    late.participants[0].snapshots.append(RoundTrip(t=9.0, target="customer-0"))
    results = by_name({"conditions": ["every_participant_joined", "every_snapshot_answered"]}, late)
    assert results["every_participant_joined"].details == ["customer-0"]
    assert not results["every_snapshot_answered"].passed


def test_conditions_on_compositions() -> None:
    names = {"conditions": ["compositions_completed", "composition_media_valid"]}
    assert all(e.passed for e in by_name(names).values())
    broken = run()
    (composition,) = broken.participants[0].compositions
    composition.state, composition.problems = "FAILED", ["lasts 3.00 s, expected 20.00 s"]
    results = by_name(names, broken)
    assert results["compositions_completed"].details == ["VIDEO c1 of conv-1: FAILED"]
    assert results["composition_media_valid"].details == [
        "compositions/agent-0-c1.mp4: lasts 3.00 s, expected 20.00 s"
    ]
    assert not by_name(names, run(participants=[]))["compositions_completed"].passed


def test_an_interrupted_run_fails() -> None:
    evaluation = evaluate(scenario({}), run(interrupted=True))
    assert not evaluation.passed
    assert evaluation.failures[0].name == "run_completed"
    assert evaluate(scenario({}), run()).passed


def test_every_metric_has_an_extractor_that_runs() -> None:
    result = run(health=[drifting_process()])
    for metric in METRICS.values():
        assert list(metric.extract(result, 0.0)), metric.name


def test_json_report_has_every_metric_with_percentiles() -> None:
    sc, result = scenario(EXPECT), run()
    report = json.loads(json.dumps(build_json(sc, result, evaluate(sc, result))))
    assert report["passed"] is False
    assert set(report["metrics"]) == set(METRICS)
    join = report["metrics"]["join_time"]
    assert join["count"] == 2 and join["p50"] == pytest.approx(0.65) and join["unit"] == "time"
    agent = report["participants"][0]
    assert agent["name"] == "agent-0"
    assert agent["metrics"]["join_time"]["max"] == pytest.approx(0.4)
    assert agent["streams"][1]["metrics"]["video_fps"]["min"] == 30.0
    names = [e["name"] for e in report["expectations"]]
    assert names == [
        "run_completed",
        "join_time p95 < 1s",
        "delay p95 < 50ms",
        "every_viewer_received_every_publisher",
    ]
    assert RunResult.model_validate(report["result"]) == result


def test_junit_report_has_one_case_per_expectation() -> None:
    sc, result = scenario(EXPECT), run()
    root = ET.fromstring(render_junit(sc, result, evaluate(sc, result)))
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("4", "1")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    failure = cases["delay p95 < 50ms"].find("failure")
    assert failure is not None
    message = failure.get("message") or ""
    assert "measured p95" in message and "< 50ms" in message
    assert cases["join_time p95 < 1s"].find("failure") is None


def test_html_report_is_self_contained_with_plots() -> None:
    sc, result = scenario(EXPECT), run()
    page = render_html(sc, result, evaluate(sc, result))
    assert page.startswith("<!DOCTYPE html>")
    plots = page[page.index('<section id="plots">') : page.index('<section id="worst-streams">')]
    assert plots.count("<svg") == 9
    for chart in (
        "Join time distribution",
        "Participants over time",
        "Frame rate over time",
        "Delay over time",
        "Jitter over time",
        "Audio level over time",
        "A/V offset over time",
        "Participants timeline",
    ):
        assert chart in plots
    # fps, delay, bitrate, jitter, audio level and A/V offset of two received streams (few:
    # a line each), participants arrived and in a conference.
    assert plots.count('class="series"') == 14
    assert 'class="bar"' in plots and 'class="present"' in plots
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<script" not in page
    assert "FAIL" in page


def test_html_escapes_names() -> None:
    sc = scenario({})
    sc = sc.model_copy(update={"description": "<b>bold</b> & co"})
    page = render_html(sc, run(), evaluate(sc, run()))
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in page


def test_reports_without_any_media_still_render() -> None:
    empty = run(participants=[])
    page = render_html(scenario({}), empty, evaluate(scenario({}), empty))
    assert "no participants" in page and "no samples" in page


def test_conclude_writes_reports_and_picks_the_exit_code(tmp_path: Path) -> None:
    out = io.StringIO()
    code = conclude(scenario({"join_time": {"p95": "< 1s"}}), run(), tmp_path / "ok", out)
    assert code is ExitCode.PASSED
    assert "PASS two-party: 2/2" in out.getvalue()
    out = io.StringIO()
    code = conclude(scenario(EXPECT), run(), tmp_path / "bad", out)
    assert code is ExitCode.FAILED
    assert "FAIL delay p95 < 50ms" in out.getvalue()
    for name in ("report.json", "junit.xml", "report.html"):
        assert (tmp_path / "bad" / name).stat().st_size > 0


def test_write_reports_paths(tmp_path: Path) -> None:
    sc, result = scenario({}), run()
    paths = write_reports(sc, result, evaluate(sc, result), tmp_path / "nested" / "dir")
    assert json.loads(paths.json.read_text())["passed"] is True
    ET.parse(paths.junit)
    page = paths.html.read_text()
    # nine plots, three more for each of the two participants that scored quality (PSNR, MOS,
    # bitrate: the network section), and a frame-rate sparkline of each received stream in
    # its participant's section
    assert page.count('<svg class="chart') == 9 + 2 * 3 and page.count('<svg class="spark"') == 2


def test_results_refuse_non_finite_samples() -> None:
    with pytest.raises(ValueError, match="finite"):
        Sample(t=1.0, value=float("nan"))
