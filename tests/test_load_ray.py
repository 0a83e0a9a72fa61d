"""`auvious-agent run --ray ADDRESS`: a local Ray cluster (a head and two worker nodes started
on this machine), two actors running one call each against the local platform the
coordinator starts, and one merged report that counts every participant exactly once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.load_support import health_processes
from tests.ray_support import (  # noqa: F401  (cluster: the shared fixture)
    cluster,
    reported_names,
    run_two_calls,
)


@pytest.mark.timeout(300)
def test_a_run_on_ray_actors_merges_every_participant_once(
    cluster: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    result, reports = run_two_calls(tmp_path, cluster, "--workers", "2")
    assert "Traceback" not in result.stdout + result.stderr, result.stderr[-3000:]
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert reported_names(reports) == ["agent-0", "agent-0.1", "peer-0", "peer-0.1"]
    report = json.loads((reports / "report.json").read_text())
    assert report["passed"] is True
    assert health_processes(report) == ["0/2", "1/2"]


def test_an_unreachable_cluster_is_a_runtime_error(tmp_path: Path) -> None:
    result, _ = run_two_calls(tmp_path, "127.0.0.1:1", "--workers", "2")
    assert result.returncode == 3, result.stdout + result.stderr[-2000:]
    assert "cannot reach the Ray cluster" in result.stderr
    assert "Traceback" not in result.stderr
