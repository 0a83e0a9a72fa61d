"""`--ray` carries the run's ICE host addresses to its actors. A Ray actor is a process of the
cluster's raylet, not of the coordinator: it does not inherit the coordinator's environment,
where `--ice-host-address` (or the embedded platform's loopback default) is written for
`--workers` processes. Its participants then gathered on every interface but loopback, and on
a machine whose platform listens on 127.0.0.1 no media flowed (`published 0`, "nothing was
measured"). The cluster here is started without the test suite's loopback setting in its
environment, as a user's `ray start` is; real raylets, real participants."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.webrtc.host_addresses import HOST_ADDRESSES_ENV
from tests.ray_support import ray_cluster_utils, reported_names, run_two_calls

pytestmark = [pytest.mark.serial, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def bare_cluster() -> Iterator[str]:
    """A head node with two CPUs whose processes know nothing of the suite's ICE choice."""
    saved = os.environ.pop(HOST_ADDRESSES_ENV, None)
    try:
        local = ray_cluster_utils.Cluster(
            initialize_head=True, head_node_args={"num_cpus": 2, "include_dashboard": False}
        )
    finally:
        if saved is not None:
            os.environ[HOST_ADDRESSES_ENV] = saved
    try:
        local.wait_for_nodes()
        yield str(local.address)
    finally:
        local.shutdown()


def test_the_actors_gather_where_the_coordinator_chose(bare_cluster: str, tmp_path: Path) -> None:
    result, reports = run_two_calls(tmp_path, bare_cluster, "--workers", "2")
    assert "Traceback" not in result.stdout + result.stderr, result.stderr[-3000:]
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert reported_names(reports) == ["agent-0", "agent-0.1", "peer-0", "peer-0.1"]
    report = json.loads((reports / "report.json").read_text())
    views = [s for p in report["participants"] for s in p["streams"] if s["direction"] == "view"]
    assert len(views) == 4 and all(view["packets_received"] > 0 for view in views), views
