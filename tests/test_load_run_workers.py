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

from tests.load_support import SCENARIO, health_processes

ROOT = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).parent / "auvious-agent"


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
    assert health_processes(report) == ["0/2", "1/2"]
    # The coordinator shows the workers' summed progress, as one process shows its own.
    assert "two-calls: " in result.stdout and "flowing " in result.stdout, result.stdout


def test_shards_run_apart_and_merge_into_one_report(tmp_path: Path) -> None:
    """What a Kubernetes Indexed Job does (docs/kubernetes.md): each index runs its shard
    and writes its report; `merge` makes the run's report from them."""
    scenario = tmp_path / "two-calls.yaml"
    scenario.write_text(SCENARIO)
    shard_reports = []
    for index in range(2):
        out = tmp_path / f"shard-{index}"
        result = run_cli(str(scenario), "--shard", f"{index}/2", "--report", str(out))
        assert result.returncode == 0, result.stdout + result.stderr
        shard = json.loads((out / "report.json").read_text())
        assert len(shard["result"]["participants"]) == 2  # one call each
        shard_reports.append(str(out / "report.json"))
    merged_dir = tmp_path / "merged"
    merge = subprocess.run(
        [str(CLI), "merge", str(scenario), *shard_reports, "--report", str(merged_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert merge.returncode == 0, merge.stdout + merge.stderr
    merged = json.loads((merged_dir / "report.json").read_text())
    names = sorted(p["name"] for p in merged["result"]["participants"])
    assert names == ["agent-0", "agent-0.1", "peer-0", "peer-0.1"]
    assert merged["passed"] is True
    assert health_processes(merged) == ["0/2", "1/2"]

    # Merged again against the first merge as the baseline: no regression, and the report
    # shows the baseline.
    again = merge_cli(
        scenario, shard_reports, tmp_path / "again", "--baseline", str(merged_dir / "report.json")
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "no regression against the baseline" in again.stdout
    assert json.loads((tmp_path / "again" / "compare.json").read_text())["regressions"] == 0
    assert '<section id="baseline">' in (tmp_path / "again" / "report.html").read_text()

    # The same shard twice is refused: its participants would count twice.
    twice = subprocess.run(
        [
            str(CLI),
            "merge",
            str(scenario),
            shard_reports[0],
            shard_reports[0],
            "--report",
            str(tmp_path / "bad"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert twice.returncode == 2 and "shard 0/2 given more than once" in twice.stderr

    # Half the shards do not pass (they did before): the missing one is named.
    half = merge_cli(scenario, shard_reports[:1], tmp_path / "half")
    assert half.returncode == 1, half.stdout + half.stderr
    assert "shard(s) 1/2 missing" in half.stderr
    report = json.loads((tmp_path / "half" / "report.json").read_text())
    assert "1 of 2 shards" in report["expectations"][0]["message"]
    partial = merge_cli(scenario, shard_reports[:1], tmp_path / "partial", "--allow-partial")
    assert partial.returncode == 0, partial.stdout + partial.stderr
    report = json.loads((tmp_path / "partial" / "report.json").read_text())  # says so too
    assert report["expectations"][0]["message"] == "judged on 1 of 2 shards: shard(s) 1/2 missing"

    # Reports of another scenario, or of another version of the file, are refused.
    edited = tmp_path / "edited.yaml"
    edited.write_text(SCENARIO.replace("duration: 8s", "duration: 9s"))
    other = merge_cli(edited, shard_reports, tmp_path / "edited")
    assert other.returncode == 2 and "another version of" in other.stderr
    renamed = tmp_path / "renamed.yaml"
    renamed.write_text(SCENARIO.replace("name: two-calls", "name: three-calls"))
    foreign = merge_cli(renamed, shard_reports, tmp_path / "renamed")
    assert foreign.returncode == 2 and "scenario 'two-calls', not 'three-calls'" in foreign.stderr


def merge_cli(
    scenario: Path, reports: list[str], out: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), "merge", str(scenario), *reports, "--report", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--shard", "2/2"), "need 0 <= I < N"),
        (("--shard", "x"), "expected I/N"),
        (("--workers", "0"), "workers must be a whole number >= 1"),
        (("--workers", "2", "--shard", "0/2"), "--shard excludes --workers and --ray"),
        (("--ray", "127.0.0.1:1", "--shard", "0/2"), "--shard excludes --workers and --ray"),
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


def test_the_metrics_host_defaults_to_this_machine_and_can_be_chosen() -> None:
    from agent.cli import _build_parser
    from agent.load.scenario_job import load_options
    from agent.scenario.runner import RunOptions

    parser, _ = _build_parser()
    base = RunOptions(server_url=None)
    default = parser.parse_args(["run", "x.yaml", "--metrics-port", "9100"])
    assert load_options(base, default).metrics_host == "127.0.0.1"
    chosen = parser.parse_args(["run", "x.yaml", "--metrics-host", "0.0.0.0"])
    assert load_options(base, chosen).metrics_host == "0.0.0.0"
