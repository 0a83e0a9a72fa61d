"""Drift expectations (issue 16): a scenario bounds how much a participants' process's
memory, descriptors, threads, tasks and peer connections grow over the run, from the
samples its health sampler takes, read here from results built by hand and from a real run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from agent.scenario.expect import evaluate
from tests.load_support import audio_call
from tests.scenario_results_support import drifting_process, run, scenario


def _outcomes(expect: dict[str, Any]) -> dict[str, Any]:
    evaluation = evaluate(scenario(expect), run(health=[drifting_process()]))
    return {e.name: e for e in evaluation.expectations}


def test_growth_and_memory_slope_are_bounded_per_process() -> None:
    found = _outcomes(
        {
            "warmup": "5s",
            "memory_slope": {"max": "< 100"},
            "fds_growth": {"max": "<= 2"},
            "threads_growth": {"max": "== 0"},
            "peer_connections_growth": {"max": "== 0"},
        }
    )
    slope = found["memory_slope max < 100"]
    assert not slope.passed and slope.measured == pytest.approx(360.0)
    fds = found["fds_growth max <= 2"]
    assert not fds.passed and fds.measured == 3.0
    assert found["threads_growth max == 0"].passed
    # The warm-up leaves out the calls being set up (0 -> 4 peer connections at the start).
    assert found["peer_connections_growth max == 0"].passed
    cold = _outcomes({"peer_connections_growth": {"max": "== 0"}})
    assert not cold["peer_connections_growth max == 0"].passed


@pytest.mark.slow
def test_a_real_run_samples_drift_and_its_expectations_hold(tmp_path: Path) -> None:
    text = audio_call("drift-call", seconds=8).replace(
        "expect:\n",
        "expect:\n  warmup: 2s\n  memory_slope: {max: '< 100000'}\n"
        "  fds_growth: {max: '< 50'}\n  threads_growth: {max: '< 10'}\n"
        "  tasks_growth: {max: '< 100'}\n  peer_connections_growth: {max: '<= 0'}\n",
    )
    path = tmp_path / "call.yaml"
    path.write_text(text)
    report_dir = tmp_path / "report"
    code = main(["run", str(path), "--report", str(report_dir)])
    report = json.loads((report_dir / "report.json").read_text())
    assert code == 0, [e for e in report["expectations"] if not e["passed"]]
    (process,) = report["result"]["health"]
    assert len(process["open_fds"]) >= 2 and process["resident_memory_mb"][0]["value"] > 10
    assert max(s["value"] for s in process["peer_connections"]) >= 2  # both in the call
    names = {e["name"] for e in report["expectations"]}
    assert "peer_connections_growth max <= 0" in names and "memory_slope max < 100000" in names
