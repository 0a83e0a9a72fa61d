"""The built wheel is complete: installed outside the checkout, `serve` answers `/client/` and
`run` passes a short call, from a directory that is not the checkout.

What the checkout's own commands hide (they run from the source tree): a page, a script or a
marker that is not package data. Kept fast and offline: the wheel is built from a copy of the
source with setuptools' own backend (no build isolation, no download), installed with
`pip --python ... --no-deps --no-index` into a fresh venv, which then reaches the dependencies
through one `.pth` line naming the project venv's site-packages (a plain path: the checkout's
editable install there is not activated, so `agent` can only come from the wheel)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import aiohttp
import pytest

from tests.serve_support import serve

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("agent", "media", "server")
NOT_SOURCE = shutil.ignore_patterns(
    ".venv", ".git", "__pycache__", "*.egg-info", "build", "dist", "reports", "data", ".*_cache"
)

CALL = """\
name: installed-call
duration: 8s  # joins are slow on a loaded machine; a viewer and a stream must meet for 3 s
participants:
  - name: agent
    role: agent
    publish: [{type: MIC_AND_CAM}]
    view: all
  - name: customer
    role: customer
    publish: [{type: MIC_AND_CAM}]
    view: all
expect:
  conditions: [every_participant_joined, every_viewer_received_every_publisher, no_errors]
"""

WHERE = (  # the public API from its one import place, and where the packages come from
    "import agent, server; from agent import Participant, run_scenario; "
    "print(agent.__file__, server.__file__)"
)

pytestmark = pytest.mark.slow


def package_files() -> list[str]:
    """Every file of the packages in the checkout: modules, pages, scripts, `py.typed`."""
    found = [
        path.relative_to(ROOT).as_posix()
        for package in PACKAGES
        for path in (ROOT / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    ]
    assert "server/client_page/static/index.html" in found and "agent/py.typed" in found
    return found


def build_wheel(out: Path) -> Path:
    source = out / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    built = subprocess.run(
        [sys.executable, "-c", "import sys; from setuptools import build_meta as b; "
         "print(b.build_wheel(sys.argv[1]))", str(out)],
        cwd=source, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    return out / built.stdout.split()[-1]


def install(wheel: Path, venv: Path) -> Path:
    """The fresh venv's bin directory, with the wheel installed and the dependencies visible."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, timeout=60)
    python = venv / "bin" / "python"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "--disable-pip-version-check", "-q", str(wheel)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-3000:]
    # After the install, so pip saw an empty environment.
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout.strip()  # fmt: skip
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site) / "project_dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    return venv / "bin"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(out)
    names = set(zipfile.ZipFile(wheel).namelist())
    assert not [path for path in package_files() if path not in names], wheel.name
    return install(wheel, out / "venv")


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A working directory outside the checkout, where `agent` is not importable from source."""
    return tmp_path


def test_the_installed_package_is_the_wheel(installed: Path, elsewhere: Path) -> None:
    where = subprocess.run(
        [installed / "python", "-c", WHERE],
        cwd=elsewhere, capture_output=True, text=True, timeout=60, check=True,
    ).stdout.split()  # fmt: skip
    venv = installed.parent
    assert all(Path(path).is_relative_to(venv) for path in where), where
    version = subprocess.run(
        [installed / "auvious-agent", "--version"],
        cwd=elsewhere, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert version.stdout.strip() == "auvious-agent 0.1.0"


async def test_installed_serve_answers_the_client_page(installed: Path, elsewhere: Path) -> None:
    cli = [str(installed / "auvious-agent")]
    async with (
        serve("--data-dir", str(elsewhere / "data"), cli=cli, cwd=elsewhere) as (base_url, _),
        aiohttp.ClientSession(base_url) as http,
    ):
        for path in ("/client/", "/client/client.js", "/client/vendor/mqtt.min.js"):
            async with http.get(path) as response:
                assert response.status == 200, path
                assert await response.read()


async def test_installed_run_passes_a_short_call(installed: Path, elsewhere: Path) -> None:
    (elsewhere / "call.yaml").write_text(CALL)
    env = {**os.environ, "AUVIOUS_ICE_HOST_ADDRESSES": "127.0.0.1"}
    process = await asyncio.create_subprocess_exec(
        installed / "auvious-agent", "run", "call.yaml", "--report", "out",
        cwd=elsewhere, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(90):
        stdout, stderr = await process.communicate()
    output = stdout.decode() + stderr.decode()
    assert process.returncode == 0, output[-3000:]
    assert "PASS installed-call: 4/4 expectations hold" in output
    assert (elsewhere / "out" / "junit.xml").is_file()
