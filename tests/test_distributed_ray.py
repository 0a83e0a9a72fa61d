"""Ctrl-C on `auvious-agent run --ray ADDRESS`: the coordinator asks every Ray actor to stop,
each closes its participants (leave, unregister) and sends what it measured, and the merged
report is written marked interrupted, as for `--workers`.

The cluster is the one `tests/test_load_ray.py` starts: a head and two worker nodes, real
raylet processes on this machine (`ray.cluster_utils.Cluster`), stopped at the end."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_distributed_interrupt import interrupt_and_check
from tests.test_load_ray import cluster  # noqa: F401  (the module's fixture)


@pytest.mark.timeout(300)
def test_ctrl_c_on_ray_actors_leaves_everyone_and_reports(
    cluster: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    interrupt_and_check(tmp_path, ["--ray", cluster, "--workers", "2"], whole_group=False)
