"""The `validate`, `schema` and `run` subcommands, run as the user runs them: a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).parent / "auvious-agent"

BAD_FILES = {
    "unknown-key": (
        "name: x\nduration: 5s\nparticipants:\n  - name: a\n    cont: 2\n",
        ":5:5: participants[0].cont: unknown key 'cont'; did you mean 'count'?",
    ),
    "wrong-type": (
        "name: x\nduration: 5s\nparticipants:\n  - name: a\n    count: two\n",
        ":5:12: participants[0].count: Input should be a valid integer",
    ),
    "bad-duration": (
        "name: x\nduration: 5 minutes\nparticipants:\n  - name: a\n",
        ":2:11: duration: '5 minutes' is not a duration",
    ),
    "missing-reference": (
        "name: x\nduration: 5s\nparticipants:\n  - name: a\n    view: [b]\n",
        ":5:12: participants[0].view[0]: no participant group named 'b'",
    ),
    "yaml-syntax": ("name: x\nparticipants:\n  - name: a\n   count: 2\n", ":4:4: YAML syntax:"),
}


def cli(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_validate_locates_each_kind_of_bad_file(tmp_path: Path, kind: str) -> None:
    text, expected = BAD_FILES[kind]
    path = tmp_path / f"{kind}.yaml"
    path.write_text(text, encoding="utf-8")
    result = cli("validate", str(path))
    assert result.returncode == 2, result.stderr
    no_traceback(result)
    assert f"{path}{expected}" in result.stderr, result.stderr
    assert f"{path}: invalid (1 problem)" in result.stderr


def test_validate_accepts_the_examples() -> None:
    files = sorted(str(p) for p in (ROOT / "scenarios").glob("*.yaml"))
    result = cli("validate", *files)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": valid:") == len(files) >= 5


def test_validate_reports_a_missing_file(tmp_path: Path) -> None:
    result = cli("validate", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    no_traceback(result)
    assert "cannot read" in result.stderr


def test_schema_prints_json_schema() -> None:
    result = cli("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "auvious-agent scenario"
    assert "participants" in schema["properties"]


def test_run_rejects_an_invalid_file_with_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_FILES["unknown-key"][0], encoding="utf-8")
    result = cli("run", str(path))
    assert result.returncode == 2
    no_traceback(result)
    assert "did you mean 'count'?" in result.stderr


def test_run_needs_a_secret_for_a_remote_server(tmp_path: Path) -> None:
    env = {"AUVIOUS_CLIENT_SECRET": "", "AUVIOUS_CLIENT_ID": ""}
    path = ROOT / "scenarios" / "two-party-call.yaml"
    result = cli(
        "run", str(path), "--server", "https://auvious.example.com", "--client-id", "bot", env=env
    )
    assert result.returncode == 2
    assert "AUVIOUS_CLIENT_SECRET" in result.stderr


def test_bad_command_line_exits_2() -> None:
    result = cli("run")
    assert result.returncode == 2
    assert "FILE" in result.stderr
