"""The baseline in the HTML report: `run --baseline` (through `conclude`, as the run and
merge commands end) and `compare` (which writes the new run's page again from its
report.json) show this run beside the last good one, the regression flagged."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from agent.cli import main
from agent.scenario.compare import load_baseline
from agent.scenario.expect import evaluate
from agent.scenario.outcome import ExitCode, conclude
from agent.scenario.report import write_reports
from tests.scenario_results_support import EXPECT, run, scenario
from tests.test_scenario_compare import slower

LOOSE = {**EXPECT, "delay": {"p95": "< 1s"}}
"""Every expectation holds with 200 ms more delay: only the baseline can catch it."""


def baseline_report(tmp_path: Path) -> Path:
    chosen = scenario(LOOSE)
    return write_reports(chosen, run(), evaluate(chosen, run()), tmp_path / "base").json


def test_a_run_with_a_baseline_shows_and_fails_on_the_regression(tmp_path: Path) -> None:
    chosen = scenario(LOOSE)
    baseline = load_baseline(baseline_report(tmp_path), "two-party", {})
    out = io.StringIO()
    code = conclude(chosen, slower(0.2), tmp_path / "slow", out, baseline)
    printed = out.getvalue()
    assert code == ExitCode.FAILED, printed
    assert "PASS two-party: 4/4 expectations hold" in printed  # the expectations all hold
    assert "delay p95: 117ms -> 317ms (tolerance 20% or 50ms) REGRESSION" in printed
    page = (tmp_path / "slow" / "report.html").read_text()
    assert "<title>two-party: PASS, REGRESSION</title>" in page
    section = page[page.index('<section id="baseline">') : page.index('<section id="plots">')]
    assert "REGRESSION: " in section and str(tmp_path / "base" / "report.json") in section
    flagged = [row for row in section.split("<tr") if row.startswith(' class="regression"')]
    assert any("<td>delay</td>" in row and "117ms → 317ms" in row for row in flagged)
    assert not any("join_time" in row for row in flagged)
    assert json.loads((tmp_path / "slow" / "compare.json").read_text())["regressions"] >= 1
    suite = ET.parse(tmp_path / "slow" / "junit.xml").getroot()
    assert suite.get("failures") == "1"  # the baseline case, as CI shows it
    failure = next(c for c in suite.iter("testcase") if c.get("name") == "baseline").find("failure")
    assert failure is not None and "delay p95: 117ms -> 317ms" in (failure.text or "")

    out = io.StringIO()
    assert conclude(chosen, run(), tmp_path / "rerun", out, baseline) == ExitCode.PASSED
    page = (tmp_path / "rerun" / "report.html").read_text()
    assert "no regression" in page and 'class="regression"' not in page
    assert "no regression against the baseline" in out.getvalue()


def test_compare_writes_the_new_runs_page_again_with_the_baseline(tmp_path: Path) -> None:
    base = baseline_report(tmp_path)
    chosen, result = scenario(LOOSE), slower(0.2)
    new = write_reports(chosen, result, evaluate(chosen, result), tmp_path / "new")
    before = new.html.read_text()
    assert 'id="baseline"' not in before
    assert main(["compare", str(base), str(new.json)]) == 1
    after = new.html.read_text()
    assert '<section id="baseline">' in after and 'class="regression"' in after
    # Rebuilt from report.json alone: but for the baseline, the same page as the run wrote.
    start, end = after.index('<section id="baseline">'), after.index('<section id="plots">')
    without = after[:start] + after[end:]
    assert without[without.index("<main>") :] == before[before.index("<main>") :]


def test_a_baseline_of_another_scenario_is_refused_before_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"scenario": "another", "metrics": {}}))
    file = Path(__file__).parent.parent / "scenarios" / "two-party-call.yaml"
    code = main(["run", str(file), "--baseline", str(other), "--report", str(tmp_path / "r")])
    assert code == ExitCode.INVALID
    assert "the baseline is a report of 'another', not 'two-party-call'" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_compare_leaves_a_page_it_cannot_rebuild_and_still_judges(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = baseline_report(tmp_path)
    chosen, result = scenario(LOOSE), slower(0.2)
    new = write_reports(chosen, result, evaluate(chosen, result), tmp_path / "new")
    document = json.loads(new.json.read_text())
    document["result"] = {"scenario": "two-party"}  # as a report of another version might be
    new.json.write_text(json.dumps(document))
    before = new.html.read_text()
    assert main(["compare", str(base), str(new.json)]) == 1
    assert new.html.read_text() == before
    assert "left as it was: the report's raw result cannot be read" in capsys.readouterr().err
