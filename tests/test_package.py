"""The package as a user meets it: the README's map lists every package and names modules that
exist; the public API has one import place (`agent`) that stays cheap to import; the lock file
that `scripts/bootstrap` installs agrees with `pyproject.toml`."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

import agent

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_ROOTS = ("agent", "media", "server")
MAP_LINE = re.compile(r"^(?P<path>[\w/]+/)\s+(?P<text>\S.*)$")
MODULE = re.compile(r"\b[\w/]+\.py\b")


def packages() -> set[str]:
    """Every package under agent/, media/ and server/, as `agent/api/`."""
    return {
        init.parent.relative_to(ROOT).as_posix() + "/"
        for top in PACKAGE_ROOTS
        for init in (ROOT / top).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }


def readme_map(readme: str) -> dict[str, str]:
    """The lines of the code block under `## Map of the code`: folder, and what it says."""
    section = readme.split("## Map of the code", 1)[1]
    block = section.split("```", 2)[1]
    lines = [line for line in block.splitlines() if line.strip()]
    entries = {}
    for line in lines:
        match = MAP_LINE.match(line)
        assert match, f"README map: not `folder/  text`: {line!r}"
        entries[match["path"]] = match["text"]
    return entries


def map_problems(entries: dict[str, str], root: Path, known: set[str]) -> list[str]:
    missing = sorted(known - set(entries))
    problems = [f"{package} is missing from the README map" for package in missing]
    for path, text in entries.items():
        if not (root / path).is_dir():
            problems.append(f"the README map names {path}, which does not exist")
            continue
        if path not in known:
            continue
        modules = MODULE.findall(text)
        if not modules:
            problems.append(f"the README map names no entry module for {path}")
        problems += [
            f"the README map names {path}{module}, which does not exist"
            for module in modules
            if not (root / path / module).is_file()
        ]
    return problems


def test_the_readme_map_lists_every_package_and_its_entry_module() -> None:
    entries = readme_map((ROOT / "README.md").read_text(encoding="utf-8"))
    assert map_problems(entries, ROOT, packages()) == []


def test_the_map_check_fails_on_a_missing_or_unknown_package() -> None:
    """Not vacuous: a package left out, a folder or a module that is not there, each named."""
    entries = readme_map((ROOT / "README.md").read_text(encoding="utf-8"))
    known = packages()
    del entries["agent/webrtc/"]
    entries["agent/gone/"] = "__init__.py: moved away"
    entries["server/media/"] = "nowhere.py: renamed"
    assert sorted(map_problems(entries, ROOT, known)) == [
        "agent/webrtc/ is missing from the README map",
        "the README map names agent/gone/, which does not exist",
        "the README map names server/media/nowhere.py, which does not exist",
    ]


@pytest.mark.parametrize("name", agent.__all__)
def test_every_public_name_resolves(name: str) -> None:
    value = getattr(agent, name)
    assert value is not None
    assert name in dir(agent)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Participants'"):
        _ = agent.Participants


def test_importing_agent_loads_no_call_stack() -> None:
    """`import agent` (and so the CLI's start) pulls in neither aiortc nor the participant;
    the first use of a name does (checked too, so the probe is not blind)."""
    probe = (
        "import json, sys, agent; before = sorted(sys.modules); agent.Participant; "
        "print(json.dumps([before, sorted(sys.modules)]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert result.returncode == 0, result.stderr
    before, after = (set(modules) for modules in json.loads(result.stdout))
    assert not {"aiortc", "av", "agent.participant"} & before
    assert {"aiortc", "agent.participant"} <= after


def lock_problems(pyproject: str, constraints: str) -> list[str]:
    """Requirements of `pyproject` (every extra) that the pins of `constraints` miss."""
    project = tomllib.loads(pyproject)["project"]
    extras = project["optional-dependencies"].values()
    wanted = [*project["dependencies"], *(item for extra in extras for item in extra)]
    pins = {
        canonicalize_name(name): Version(version)
        for name, version in (
            line.split("==") for line in constraints.splitlines() if line and line[0] != "#"
        )
    }
    problems = []
    for requirement in map(Requirement, wanted):
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        pin = pins.get(canonicalize_name(requirement.name))
        if pin is None:
            problems.append(f"{requirement.name} is not pinned")
        elif not requirement.specifier.contains(pin, prereleases=True):
            problems.append(f"{requirement.name}=={pin} is outside {requirement}")
    return problems


def test_constraints_pin_every_requirement_within_pyproject() -> None:
    """A dependency changed in pyproject.toml without `scripts/lock` would make bootstrap fail
    (or hold the old version): said here, with the command that mends it."""
    problems = lock_problems(
        (ROOT / "pyproject.toml").read_text(), (ROOT / "constraints.txt").read_text()
    )
    assert problems == [], f"constraints.txt is stale, run scripts/lock: {problems}"


def test_the_lock_check_sees_a_stale_pin() -> None:
    pyproject = '[project]\ndependencies = ["aiortc>=1.16,<1.17", "av>=14"]\n'
    pyproject += '[project.optional-dependencies]\ntest = ["pytest>=8"]\n'
    assert lock_problems(pyproject, "# lock\naiortc==1.17.0\npytest==9.0\n") == [
        "aiortc==1.17.0 is outside aiortc<1.17,>=1.16",
        "av is not pinned",
    ]


def test_bootstrap_is_silent_when_ready_and_refuses_an_unknown_level(tmp_path: Path) -> None:
    """The fast path of every `./auvious-agent` and `scripts/test` call prints nothing; the
    test level holds every other, each the run level; a level it does not know is a usage
    error. In a copy of the checkout's files whose .venv is marked set up as bootstrap marks it
    (nothing installs: a wrong verdict would try to, and fail here without a network)."""
    (tmp_path / "scripts").mkdir()
    for name in ("scripts/bootstrap", "pyproject.toml", "constraints.txt"):
        shutil.copy2(ROOT / name, tmp_path / name)
    key = hashlib.sha1(
        (ROOT / "pyproject.toml").read_bytes() + (ROOT / "constraints.txt").read_bytes()
    ).hexdigest()[:12]
    venv = tmp_path / ".venv"
    venv.mkdir()
    (venv / f".installed-test-{key}").touch()

    def bootstrap(*args: str) -> tuple[int, str]:
        done = subprocess.run(
            [tmp_path / "scripts" / "bootstrap", *args], capture_output=True, text=True, timeout=60
        )
        return done.returncode, done.stdout + done.stderr

    assert bootstrap("test") == (0, "")
    assert bootstrap("browser") == (0, "")
    assert bootstrap() == (0, "")
    (venv / f".installed-test-{key}").rename(venv / f".installed-browser-{key}")
    assert bootstrap("browser") == (0, "")
    assert bootstrap() == (0, "")
    assert bootstrap("tests") == (2, "usage: scripts/bootstrap [run|browser|scale|quality|test]\n")
