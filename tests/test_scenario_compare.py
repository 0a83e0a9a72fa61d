"""`auvious-agent compare`: a run against a baseline, on synthetic reports (every rule) and on
real runs (slow): a rerun of the baseline passes, a run with an injected regression fails."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agent.scenario.compare import compare_reports, parse_tolerance
from agent.scenario.expect import evaluate
from agent.scenario.loader import load_scenario
from agent.scenario.report import write_reports
from agent.scenario.report.json_report import build_json
from agent.scenario.results import RunResult, Sample
from agent.scenario.runner import RunOptions, ScenarioRun
from tests.load_support import SCENARIO, calling
from tests.scenario_results_support import EXPECT, run, scenario

CLI = Path(sys.executable).parent / "auvious-agent"


def report(result: RunResult, expect: dict[str, Any] | None = None) -> dict[str, Any]:
    chosen = scenario(expect or EXPECT)
    return build_json(chosen, result, evaluate(chosen, result))


def slower(by: float) -> RunResult:
    result = run()
    for participant in result.participants:
        for stream in participant.streams:
            stream.delay = [Sample(t=s.t, value=s.value + by) for s in stream.delay]
    return result


def regressions(baseline: dict[str, Any], new: dict[str, Any], **tolerance: str) -> list[str]:
    chosen = {metric: parse_tolerance(metric, text) for metric, text in tolerance.items()}
    return [d.message for d in compare_reports(baseline, new, chosen) if d.regression]


def test_added_delay_is_a_regression_and_the_same_run_is_not() -> None:
    baseline = report(run())
    assert regressions(baseline, report(run())) == []
    found = regressions(baseline, report(slower(0.2)))
    assert any(m.startswith("delay p95:") and "REGRESSION" in m for m in found), found
    assert regressions(baseline, report(slower(0.2)), delay="300ms") == []
    assert regressions(baseline, report(slower(0.02))) == []  # under the 50 ms floor


def test_the_scenario_tolerance_and_lost_expectations() -> None:
    loose = {**EXPECT, "delay": {"p95": "< 1s"}, "tolerance": {"delay": "100%"}}
    assert regressions(report(run(), loose), report(slower(0.05), loose)) == []
    found = regressions(report(run(), loose), report(slower(2.0), loose))
    assert any("held in the baseline and fails now" in m for m in found), found


def test_reports_of_different_scenarios_and_bad_tolerances_are_refused() -> None:
    other = {**report(run()), "scenario": "another"}
    with pytest.raises(ValueError, match="different scenarios"):
        compare_reports(report(run()), other)
    with pytest.raises(ValueError, match="no metric named 'dealy'"):
        parse_tolerance("dealy", "10%")
    with pytest.raises(ValueError, match="unit"):
        parse_tolerance("delay", "fast")


TOLERANT = """  tolerance:
    join_time: 5s
    publish_time: 5s
    view_time: 5s
    first_frame_time: 5s
    media_gap: 5s
    freeze_total: 5s
    freeze_count: "10"
    bitrate: 100%
"""


async def run_here(file: Path, out: Path) -> None:
    """A run in this process: a process each paid the imports over and over, and `auvious-agent
    run` writing its reports is tested in test_scenario_run_cli. What is compared is the
    report.json written."""
    scenario = load_scenario(file)
    result = await ScenarioRun(scenario, RunOptions(report_dir=out, quiet=True)).execute()
    evaluation = evaluate(scenario, result)
    write_reports(scenario, result, evaluation, out)
    assert evaluation.passed, [e.message for e in evaluation.failures]


def run_cli(file: Path, out: Path, options: list[str], code: int) -> None:
    """`auvious-agent run` in its own process, with the exit code expected."""
    done = subprocess.run(
        [str(CLI), "run", str(file), "--workers", "1", "--report", str(out), *options],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == code, done.stdout + done.stderr


def compare_cli(baseline: Path, new: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), "compare", str(baseline / "report.json"), str(new / "report.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
@pytest.mark.timeout(400)
async def test_compare_real_runs(tmp_path: Path) -> None:
    """Three real runs of two calls on the local platform: the baseline, a rerun, and one
    whose publishers send 4 fps instead of 15 (the injected regression: the local platform
    has no way to add network delay), run with `--baseline` so its report shows it."""
    good = tmp_path / "good.yaml"
    good.write_text(SCENARIO + TOLERANT)
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        SCENARIO.replace(calling("agent"), calling("agent", fps=4)).replace(
            calling("peer"), calling("peer", fps=4)
        )
        + TOLERANT
    )
    # One after another (side by side they saturate a shared host). The slow run is compared
    # as it ends (`run --baseline`, the CLI): it fails on the regression alone.
    await run_here(good, tmp_path / "base")
    await run_here(good, tmp_path / "rerun")
    run_cli(bad, tmp_path / "slow", ["--baseline", str(tmp_path / "base" / "report.json")], 1)
    page = (tmp_path / "slow" / "report.html").read_text()
    section = page[page.index('<section id="baseline">') : page.index('<section id="plots">')]
    assert '<tr class="regression"><td>video_fps</td>' in section
    rerun = compare_cli(tmp_path / "base", tmp_path / "rerun")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "no regression" in rerun.stdout
    slow = compare_cli(tmp_path / "base", tmp_path / "slow")
    assert slow.returncode == 1, slow.stdout + slow.stderr
    assert "video_fps p50" in slow.stdout and "REGRESSION" in slow.stdout
    written = json.loads((tmp_path / "slow" / "compare.json").read_text())
    assert written["regressions"] >= 1
