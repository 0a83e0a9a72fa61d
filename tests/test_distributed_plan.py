"""Every process of a spread run draws the same plan, even when the scenario leaves its
random choices unseeded: conferences chosen from random CSV rows must be dealt alike in
every worker (or shard), else a call runs twice or not at all.

Real runs: `auvious-agent run --workers 2` against the local platform, and two `--shard`
processes merged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from agent.load.scenario_job import ScenarioJob
from agent.scenario.loader import parse_scenario
from agent.scenario.runner import RunOptions
from agent.scenario.seeding import common_seed

ROOT = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).parent / "auvious-agent"

ROOMS = "room\n" + "".join(f"room-{n}\n" for n in range(12))
SCENARIO = """
name: random-rooms
duration: 6s
data: {file: rooms.csv, mode: random}
phases:
  - name: arrive
    duration: 2s
    arrival_count: 6
  - name: talk
    duration: 4s
    arrival_count: 0
participants:
  - name: agent
    role: agent
    conference: ${row.room}
    publish:
      - type: MIC
expect:
  conditions:
    - every_participant_joined
"""
NAMES = sorted(["agent-0", *(f"agent-0.{n}" for n in range(1, 6))])


def write_scenario(tmp_path: Path) -> Path:
    (tmp_path / "rooms.csv").write_text(ROOMS)
    scenario = tmp_path / "random-rooms.yaml"
    scenario.write_text(SCENARIO)
    return scenario


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, cwd=ROOT, timeout=180)


def names_in(report_dir: Path) -> list[str]:
    result = json.loads((report_dir / "report.json").read_text())["result"]
    return sorted(p["name"] for p in result["participants"])


def test_the_common_seed_is_the_scenarios_own_else_one_of_its_content(tmp_path: Path) -> None:
    scenario = parse_scenario(SCENARIO, "a.yaml", write_scenario(tmp_path).parent)
    derived = common_seed(scenario)
    assert derived == common_seed(parse_scenario(SCENARIO, "b.yaml", tmp_path))
    assert derived != common_seed(parse_scenario(SCENARIO + "seed: 1\n", "c.yaml", tmp_path))
    seeded = parse_scenario(SCENARIO + "seed: 5\n", "d.yaml", tmp_path)
    assert common_seed(seeded) == 5


def test_two_workers_deal_unseeded_random_rooms_alike(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path)
    reports = tmp_path / "reports"
    result = run_cli("run", str(scenario), "--workers", "2", "--report", str(reports))
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    assert names_in(reports) == NAMES


def test_shards_deal_unseeded_random_rooms_alike(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path)
    parts = []
    for index in range(2):
        out = tmp_path / f"shard-{index}"
        result = run_cli("run", str(scenario), "--shard", f"{index}/2", "--report", str(out))
        assert "Traceback" not in result.stdout + result.stderr, result.stderr
        parts.append(str(out / "report.json"))
    merged = tmp_path / "merged"
    result = run_cli("merge", str(scenario), *parts, "--report", str(merged))
    assert result.returncode == 0, result.stdout + result.stderr
    assert names_in(merged) == NAMES


def test_a_worker_on_another_machine_needs_no_copy_of_the_scenario_file(tmp_path: Path) -> None:
    """A Ray node elsewhere has the text the coordinator sent, not the file (only the CSV and
    media files a scenario names must be there, at the same path)."""
    scenario = write_scenario(tmp_path)
    text = scenario.read_text()
    scenario.unlink()
    job = ScenarioJob(scenario, RunOptions(), seed=3, text=text)
    planned = job.scenario()
    assert planned.name == "random-rooms" and planned.seed == 3
    assert planned.path == str(scenario)  # relative paths still resolve next to it
    own = ScenarioJob(scenario, RunOptions(), seed=3, text=text + "seed: 9\n").scenario()
    assert own.seed == 9  # the scenario's own seed wins
