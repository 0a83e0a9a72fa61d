"""Shared by the Ray tests: a local Ray cluster, real raylet processes on this machine.

Importing this module skips the importing test module when Ray is not installed."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.distributed_support import CLI, ROOT
from tests.load_support import SCENARIO

ray_cluster_utils = pytest.importorskip("ray.cluster_utils")


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


def run_two_calls(
    tmp_path: Path, address: str, *options: str
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """`auvious-agent run` of the two-call scenario on the Ray cluster at `address`, as a user
    would; the finished process and the report folder."""
    scenario = tmp_path / "two-calls.yaml"
    scenario.write_text(SCENARIO)
    reports = tmp_path / "reports"
    result = subprocess.run(
        [str(CLI), "run", str(scenario), "--ray", address, *options, "--report", str(reports)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=240,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
    )
    return result, reports


def reported_names(reports: Path) -> list[str]:
    """The merged report's participants, sorted: each must appear once."""
    report = json.loads((reports / "report.json").read_text())
    return sorted(p["name"] for p in report["result"]["participants"])
