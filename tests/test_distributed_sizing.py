"""`--workers` left out: one worker per core, at most one per conference of the plan; a
one-call scenario stays in one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from agent.distributed.sizing import conference_count, default_workers
from agent.scenario.loader import load_scenario, parse_scenario
from tests.load_support import SCENARIO as TWO_CALLS

ROOT = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).parent / "auvious-agent"


def test_one_worker_per_core_at_most_one_per_conference() -> None:
    ramp = load_scenario(ROOT / "scenarios" / "ramp-load.yaml")
    conferences = conference_count(ramp, seed=1)
    assert conferences > 4
    assert default_workers(ramp, seed=1, cores=4) == 4
    assert default_workers(ramp, seed=1, cores=64) == conferences
    one_call = load_scenario(ROOT / "scenarios" / "two-party-call.yaml")
    assert conference_count(one_call, seed=1) == 1
    assert default_workers(one_call, seed=1, cores=64) == 1
    two_calls = parse_scenario(TWO_CALLS, "two-calls.yaml", ROOT)
    assert default_workers(two_calls, seed=1, cores=1) == 1
    assert default_workers(two_calls, seed=1, cores=8) == 2


def test_without_workers_a_two_call_run_takes_a_process_per_core(tmp_path: Path) -> None:
    scenario = tmp_path / "two-calls.yaml"
    scenario.write_text(TWO_CALLS)
    reports = tmp_path / "reports"
    result = subprocess.run(
        [str(CLI), "run", str(scenario), "--report", str(reports)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=180,
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    expected = min(os.cpu_count() or 1, 2)
    assert (f"two-calls: {expected} worker processes" in result.stdout) == (expected > 1)
    report = json.loads((reports / "report.json").read_text())
    names = sorted(p["name"] for p in report["result"]["participants"])
    assert names == ["agent-0", "agent-0.1", "peer-0", "peer-0.1"]
