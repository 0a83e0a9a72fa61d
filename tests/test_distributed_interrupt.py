"""Ctrl-C on `auvious-agent run --workers 2`: every worker's participants leave and
unregister, and the coordinator still writes the one merged report, marked interrupted, as a
single-process run does (`tests/test_distributed_ray.py`: the same over Ray actors).

Two ways the interrupt arrives, both real signals to real processes: a terminal's Ctrl-C goes
to the whole foreground process group (coordinator, workers and the local platform at once),
and a supervisor's `kill -INT` goes to the coordinator alone."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).parent / "auvious-agent"
JOIN_TIMEOUT = 90.0
END_TIMEOUT = 90.0

SCENARIO = """
name: two-long-calls
seed: 11
duration: 120s
phases:
  - name: arrive
    duration: 2s
    arrival_count: 2
  - name: talk
    duration: 118s
    arrival_count: 0
participants:
  - name: agent
    role: agent
    conference: call-${arrival}
    publish:
      - type: MIC_AND_CAM
        resolution: 160x90
        fps: 10
        bitrate: 100k
    view: all
  - name: peer
    role: agent
    conference: call-${arrival}
    publish:
      - type: MIC
    view: all
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def live_participants(port: int) -> int | None:
    """`auvious_agent_participants` from the coordinator's summed live metrics."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("auvious_agent_participants "):
            return int(float(line.split()[1]))
    return None


@pytest.mark.timeout(240)
@pytest.mark.parametrize("whole_group", [True, False], ids=["terminal-ctrl-c", "kill-coordinator"])
def test_ctrl_c_on_two_workers_leaves_everyone_and_reports(
    tmp_path: Path, whole_group: bool
) -> None:
    interrupt_and_check(tmp_path, ["--workers", "2"], whole_group)


def test_sigterm_on_a_shard_leaves_everyone_and_reports(tmp_path: Path) -> None:
    """What Kubernetes sends a pod it stops (then SIGKILL after the grace period)."""
    interrupt_and_check(tmp_path, ["--shard", "0/1"], whole_group=False, stop=signal.SIGTERM)


def interrupt_and_check(
    tmp_path: Path, spread: list[str], whole_group: bool, stop: int = signal.SIGINT
) -> None:
    """Run the two long calls spread as `spread` says, interrupt them (`stop`) once all four
    participants run, and check the report: everyone there once, left and unregistered."""
    scenario = tmp_path / "two-long-calls.yaml"
    scenario.write_text(SCENARIO)
    reports = tmp_path / "reports"
    port = free_port()
    command = [str(CLI), "run", str(scenario), *spread, "--report", str(reports)]
    process = subprocess.Popen(
        [*command, "--metrics-port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a shell gives a foreground job
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
    )
    try:
        deadline = time.monotonic() + JOIN_TIMEOUT
        while live_participants(port) != 4:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the four participants never ran"
            time.sleep(0.5)
        time.sleep(2.0)  # media flowing for a moment, so there is something to tear down
        if whole_group:
            os.killpg(process.pid, stop)
        else:
            process.send_signal(stop)
        out, err = process.communicate(timeout=END_TIMEOUT)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert "Traceback" not in out + err, err[-3000:]
    assert process.returncode == 1, out + err[-3000:]  # interrupted: reported, not passed
    result = json.loads((reports / "report.json").read_text())["result"]
    assert result["interrupted"] is True
    participants = result["participants"]
    assert sorted(p["name"] for p in participants) == ["agent-0", "agent-0.1", "peer-0", "peer-0.1"]
    for participant in participants:
        steps = {step["kind"]: step["ok"] for step in participant["steps"]}
        assert steps.get("leave") is True and steps.get("unregister") is True, participant
        assert participant["left_at"] is not None, participant
    # No peer connection left open, no participant that failed to leave in time, no worker
    # that sent nothing.
    assert not result["errors"], result["errors"]
    assert (reports / "junit.xml").is_file() and (reports / "report.html").is_file()


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
