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

pytestmark = pytest.mark.serial  # two real runs compared: a loaded CPU shows as regressions

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


def shifted(series: str, value: float) -> RunResult:
    result = run()
    for participant in result.participants:
        for stream in participant.streams:
            setattr(stream, series, [Sample(t=s.t, value=value) for s in getattr(stream, series)])
    return result


def test_quieter_audio_and_an_av_offset_either_way_are_regressions() -> None:
    baseline = report(run())  # audio at -24 dBFS, sound 20 ms behind the picture
    assert any(
        "audio_level p50" in m for m in regressions(baseline, report(shifted("audio_level", -60.0)))
    )
    assert regressions(baseline, report(shifted("audio_level", -10.0))) == []  # louder
    for offset in (0.2, -0.2):  # sound late or early by 200 ms
        found = regressions(baseline, report(shifted("av_sync", offset)))
        assert any(m.startswith("av_sync p50:") for m in found), (offset, found)
    assert regressions(baseline, report(shifted("av_sync", -0.03))) == []  # as near zero


def test_worse_quality_is_a_regression_and_better_quality_is_not() -> None:
    """PSNR, SSIM and MOS: higher is better, and the pooled figure is a mean, not a sum."""
    expect = {**EXPECT, "video_psnr": {"p50": "> 20"}, "audio_mos": {"p50": "> 2"}}
    baseline = report(run(), expect)  # PSNR 45 dB, SSIM 0.99, MOS 4.1
    assert baseline["metrics"]["video_psnr"]["overall"] == pytest.approx(45.0)  # not 34 x 45
    for series, worse, better in (("psnr", 30.0, 48.0), ("ssim", 0.7, 1.0), ("mos", 2.5, 4.4)):
        found = regressions(baseline, report(shifted(series, worse), expect))
        assert any("p50:" in m and series in m for m in found), (series, found)
        assert regressions(baseline, report(shifted(series, better), expect)) == [], series


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


TOLERANT = """  delay: {p95: "< 5s"}
  tolerance:
    join_time: 5s
    publish_time: 5s
    view_time: 5s
    first_frame_time: 5s
    media_gap: 5s
    freeze_total: 5s
    freeze_count: "10"
    bitrate: 100%
    bitrate_sent: 100%
    delay: 250ms
    video_fps: 50%
"""
"""Expects a delay (so viewers sample keyframes and measure it) and tolerates what a shared
machine changes from run to run; 250 ms of delay too, a third of the regression injected."""


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
    whose `peer` group is behind a link adding 400 ms each way (`network:`, the injected
    regression: every view of the calls gets 400 ms later), run with `--baseline` so its
    report shows it."""
    good = tmp_path / "good.yaml"
    good.write_text(SCENARIO + TOLERANT)
    bad = tmp_path / "bad.yaml"
    shaped = calling("peer") + "    network: {profile: {delay: 400ms}}\n"
    bad.write_text(SCENARIO.replace(calling("peer"), shaped) + TOLERANT)
    # One after another (side by side they saturate a shared host). The late run is compared
    # as it ends (`run --baseline`, the CLI): it fails on the regression alone.
    await run_here(good, tmp_path / "base")
    await run_here(good, tmp_path / "rerun")
    run_cli(bad, tmp_path / "late", ["--baseline", str(tmp_path / "base" / "report.json")], 1)
    page = (tmp_path / "late" / "report.html").read_text()
    section = page[page.index('<section id="baseline">') : page.index('<section id="plots">')]
    assert '<tr class="regression"><td>delay</td>' in section
    rerun = compare_cli(tmp_path / "base", tmp_path / "rerun")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "no regression" in rerun.stdout
    late = compare_cli(tmp_path / "base", tmp_path / "late")
    assert late.returncode == 1, late.stdout + late.stderr
    flagged = [line for line in late.stdout.splitlines() if "REGRESSION" in line]
    assert any(line.startswith("delay p50:") for line in flagged), late.stdout
    written = json.loads((tmp_path / "late" / "compare.json").read_text())
    delays = [d for d in written["differences"] if d["metric"] == "delay" and d["regression"]]
    assert delays and all(d["new"] - d["baseline"] > 0.3 for d in delays), delays
