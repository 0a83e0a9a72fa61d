"""`auvious-agent validate` and `schema` import nothing that runs a call (aiortc, av, the
platform): they are what an editor or a CI lint step calls, many times.

Each check runs in a fresh interpreter, whose modules are only those the command imported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("aiortc", "av", "aioice", "numpy", "server.embedded", "agent.participant")

PROBE = """
import contextlib, io, json, sys
from agent.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "out": out.getvalue(), "modules": sorted(sys.modules)}))
"""


def run_in_process(*args: str) -> tuple[int, str, set[str]]:
    """The command's exit code, its output, and the modules loaded once it returned."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.splitlines()[-1])
    return answer["code"], answer["out"], set(answer["modules"])


@pytest.mark.parametrize(
    "args",
    [["validate", "scenarios/two-party-call.yaml", "scenarios/webinar.yaml"], ["schema"]],
    ids=["validate", "schema"],
)
def test_validate_and_schema_do_not_import_the_call_stack(args: list[str]) -> None:
    code, out, modules = run_in_process(*args)
    assert code == 0
    assert out  # the command did its job: a verdict per file, or the schema
    assert not [name for name in HEAVY if name in modules]


def test_the_probe_sees_the_call_stack_when_a_check_needs_it() -> None:
    """Not vacuous: a browser group's codec check asks the agent's media code which codec an
    agent sends, and that imports aiortc; the probe then reports it."""
    code, out, modules = run_in_process("validate", "scenarios/browser-and-agents.yaml")
    assert code == 0 and "valid" in out
    assert "aiortc" in modules
