"""Ctrl-C on `auvious-agent run --ray ADDRESS`: the coordinator asks every Ray actor to stop,
each closes its participants (leave, unregister) and sends what it measured, and the merged
report is written marked interrupted, as for `--workers`. Without `--workers`, one actor per
conference (at most the cluster's CPUs).

The cluster is `tests/ray_support.py`'s (as for `tests/test_load_ray.py`): a head and two
worker nodes, real raylet processes on this machine (`ray.cluster_utils.Cluster`), stopped at
the end."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.distributed_support import interrupt_and_check
from tests.ray_support import (  # noqa: F401  (cluster: the shared fixture)
    cluster,
    reported_names,
    run_two_calls,
)


@pytest.mark.timeout(300)
def test_ctrl_c_on_ray_actors_leaves_everyone_and_reports(
    cluster: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    interrupt_and_check(tmp_path, ["--ray", cluster, "--workers", "2"], whole_group=False)


@pytest.mark.timeout(300)
def test_without_workers_ray_takes_an_actor_per_conference(
    cluster: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Two calls, three CPUs in the cluster: two actors on two nodes, each participant
    reported once."""
    result, reports = run_two_calls(tmp_path, cluster)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr[-3000:]
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "two-calls: up to 2 Ray actors" in result.stdout
    # Ray spreads the actors: two worker processes on two of the cluster's three nodes.
    assert "two-calls: 2 Ray actors up on 2 node(s)" in result.stdout
    assert reported_names(reports) == ["agent-0", "agent-0.1", "peer-0", "peer-0.1"]
