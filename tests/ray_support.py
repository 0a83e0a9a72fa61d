"""Shared by the Ray tests: a local Ray cluster, real raylet processes on this machine.

Importing this module skips the importing test module when Ray is not installed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
