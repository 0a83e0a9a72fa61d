"""`auvious-agent run --workers 2` as the user runs it: the coordinator starts the local
platform in its own process, two worker processes run one call each, and the one merged
report counts every participant exactly once; `--shard` and the metrics port on the command
line; a bad `--shard` or `--workers` is a usage error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).parent / "auvious-agent"

SCENARIO = """
name: two-calls
seed: 7
duration: 8s
phases:
  - name: arrive
    duration: 2s
    arrival_count: 2
  - name: talk
    duration: 6s
    arrival_count: 0
participants:
  - name: agent
    role: agent
    conference: call-${arrival}
    publish:
      - type: MIC_AND_CAM
        resolution: 160x90
        fps: 15
        bitrate: 150k
    view: all
  - name: peer
    role: agent
    conference: call-${arrival}
    publish:
      - type: MIC_AND_CAM
        resolution: 160x90
        fps: 15
        bitrate: 150k
    view: all
expect:
  conditions:
    - every_participant_joined
    - every_viewer_received_every_publisher
"""


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), "run", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=180,
        env={**os.environ},
    )


def test_two_workers_write_one_report_with_every_participant_once(tmp_path: Path) -> None:
    scenario = tmp_path / "two-calls.yaml"
    scenario.write_text(SCENARIO)
    reports = tmp_path / "reports"
    result = run_cli(str(scenario), "--workers", "2", "--report", str(reports))
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((reports / "report.json").read_text())
    text = json.dumps(report)
    names = sorted(p["name"] for p in report["result"]["participants"])
    assert names == ["agent-0", "agent-0.1", "peer-0", "peer-0.1"], text[:2000]
    conferences = {p["conference"] for p in report["result"]["participants"]}
    assert len(conferences) == 2
    assert (reports / "junit.xml").is_file() and (reports / "report.html").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--shard", "2/2"), "need 0 <= I < N"),
        (("--shard", "x"), "expected I/N"),
        (("--workers", "0"), "workers must be a whole number >= 1"),
        (("--workers", "2", "--shard", "0/2"), "exclude each other"),
        (("--metrics-port", "70000"), "a port is a number"),
    ],
)
def test_bad_load_options_are_usage_errors(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    scenario = tmp_path / "two-calls.yaml"
    scenario.write_text(SCENARIO)
    result = run_cli(str(scenario), *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
