"""Ctrl-C on `auvious-agent run --workers 2`: every worker's participants leave and
unregister, and the coordinator still writes the one merged report, marked interrupted, as a
single-process run does (`tests/test_distributed_ray.py`: the same over Ray actors).

Two ways the interrupt arrives, both real signals to real processes: a terminal's Ctrl-C goes
to the whole foreground process group (coordinator, workers and the local platform at once),
and a supervisor's `kill -INT` goes to the coordinator alone."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.distributed_support import (
    CLI,
    END_TIMEOUT,
    JOIN_TIMEOUT,
    ROOT,
    SCENARIO,
    free_port,
    interrupt_and_check,
    live_participants,
)

pytestmark = pytest.mark.serial  # processes with their own platforms, interrupted mid-call


@pytest.mark.timeout(240)
@pytest.mark.parametrize("whole_group", [True, False], ids=["terminal-ctrl-c", "kill-coordinator"])
def test_ctrl_c_on_two_workers_leaves_everyone_and_reports(
    tmp_path: Path, whole_group: bool
) -> None:
    interrupt_and_check(tmp_path, ["--workers", "2"], whole_group)


def test_sigterm_on_a_shard_leaves_everyone_and_reports(tmp_path: Path) -> None:
    """What Kubernetes sends a pod it stops (then SIGKILL after the grace period)."""
    interrupt_and_check(tmp_path, ["--shard", "0/1"], whole_group=False, stop=signal.SIGTERM)


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc: Linux)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # ended meanwhile
        if int(text[text.rindex(")") + 2 :].split()[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


@pytest.mark.timeout(240)
def test_workers_of_a_killed_coordinator_stop_by_themselves(tmp_path: Path) -> None:
    """SIGKILL leaves the coordinator no chance to stop anyone: its workers notice they were
    orphaned and stop (long before the scenario's two minutes), instead of running on."""
    scenario = tmp_path / "two-long-calls.yaml"
    scenario.write_text(SCENARIO)
    port = free_port()
    command = [str(CLI), "run", str(scenario), "--workers", "2", "--report", str(tmp_path / "r")]
    process = subprocess.Popen(
        [*command, "--metrics-port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    workers: list[int] = []
    try:
        deadline = time.monotonic() + JOIN_TIMEOUT
        while live_participants(port) != 4:
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.5)
        workers = [
            pid
            for pid in children_of(process.pid)
            if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
        ]
        assert len(workers) == 2, workers
        process.kill()
        process.wait()
        deadline = time.monotonic() + END_TIMEOUT
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not any(alive(pid) for pid in workers), "a worker ran on without its coordinator"
    finally:
        for pid in [*workers, process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
