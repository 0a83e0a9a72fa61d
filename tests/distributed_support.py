"""Shared by the interrupt tests (`--workers`, `--shard`, `--ray`): the CLI, two long calls
that are still running when the interrupt comes, and the check that an interrupted run's
participants all left and unregistered and its merged report says so."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.load_support import calling

ROOT = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).parent / "auvious-agent"
JOIN_TIMEOUT = 90.0
END_TIMEOUT = 90.0

SCENARIO = (
    """
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
"""
    + calling("agent", fps=10, bitrate="100k")
    + """  - name: peer
    role: agent
    conference: call-${arrival}
    publish:
      - type: MIC
    view: all
"""
)


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
    found = metric_total(text, "auvious_agent_participants")
    return None if found is None else int(found)


def metric_values(text: str, name: str) -> list[float]:
    """The samples `name` of Prometheus text, with at least the labels `name` gives
    (`x{kind="video"}`): every series of a run also has `run`, `scenario` and `phase`, and
    one series per scenario `group`."""
    from prometheus_client.parser import text_string_to_metric_families

    base, _, rest = name.partition("{")
    wanted = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    return [
        float(sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == base and wanted.items() <= sample.labels.items()
    ]


def metric_value(text: str, name: str) -> float | None:
    """The first sample `name` (`metric_values`): one group's, for a run with groups."""
    found = metric_values(text, name)
    return found[0] if found else None


def metric_total(text: str, name: str) -> float | None:
    """The samples `name` summed over the groups (a count of the run); None when absent."""
    found = metric_values(text, name)
    return sum(found) if found else None


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
