"""`auvious-agent run --ray ADDRESS`: a local Ray cluster (a head and two worker nodes started
on this machine), two actors running one call each against the local platform the
coordinator starts, and one merged report that counts every participant exactly once."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.distributed_support import CLI, ROOT
from tests.load_support import SCENARIO
from tests.ray_support import cluster  # noqa: F401  (the shared fixture)


@pytest.mark.timeout(300)
def test_a_run_on_ray_actors_merges_every_participant_once(
    cluster: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    scenario = tmp_path / "two-calls.yaml"
    scenario.write_text(SCENARIO)
    reports = tmp_path / "reports"
    result = subprocess.run(
        [
            str(CLI),
            "run",
            str(scenario),
            "--ray",
            cluster,
            "--workers",
            "2",
            "--report",
            str(reports),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=240,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stderr[-3000:]
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    report = json.loads((reports / "report.json").read_text())
    names = sorted(p["name"] for p in report["result"]["participants"])
    assert names == ["agent-0", "agent-0.1", "peer-0", "peer-0.1"]
    assert report["passed"] is True


def test_an_unreachable_cluster_is_a_runtime_error(tmp_path: Path) -> None:
    scenario = tmp_path / "two-calls.yaml"
    scenario.write_text(SCENARIO)
    result = subprocess.run(
        [
            str(CLI),
            "run",
            str(scenario),
            "--ray",
            "127.0.0.1:1",
            "--workers",
            "2",
            "--report",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=240,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
    )
    assert result.returncode == 3, result.stdout + result.stderr[-2000:]
    assert "cannot reach the Ray cluster" in result.stderr
    assert "Traceback" not in result.stderr
