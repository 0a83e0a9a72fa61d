"""`auvious-agent run --ray ADDRESS`: a local Ray cluster (a head and two worker nodes started
on this machine), two actors running one call each against the local platform the
coordinator starts, and one merged report that counts every participant exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.load_support import SCENARIO

ray_cluster_utils = pytest.importorskip("ray.cluster_utils")

ROOT = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).parent / "auvious-agent"


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """Head plus two worker nodes, one CPU each; their address."""
    local = ray_cluster_utils.Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False},
    )
    try:
        for _ in range(2):
            local.add_node(num_cpus=1)
        local.wait_for_nodes()
        yield str(local.address)
    finally:
        local.shutdown()


@pytest.mark.timeout(300)
def test_a_run_on_ray_actors_merges_every_participant_once(cluster: str, tmp_path: Path) -> None:
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
