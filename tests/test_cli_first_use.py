"""What a user hits first: `serve` on a busy port, a mistyped `--server`, a refused login,
`--version`, and the platform's own address opened in a browser or with curl.

The commands run as the user runs them (a subprocess of the installed `auvious-agent`), against
the real local platform."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import aiohttp
import pytest

from agent.cli import _build_parser
from agent.scenario.loader import ScenarioError, parse_scenario
from server.embedded import EmbeddedServer

ROOT = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).parent / "auvious-agent"
SCENARIO = ROOT / "scenarios" / "two-party-call.yaml"


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), *args], capture_output=True, text=True, cwd=cwd, timeout=60, check=False
    )


@pytest.mark.slow  # a process that imports the whole platform: seconds on a loaded machine
def test_serve_on_a_busy_port_exits_1_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("serve", "--port", str(port), "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"auvious-agent serve: cannot listen on 127.0.0.1:{port}: address already in use"
    ]
    assert "Auvious platform at" not in result.stdout


def parse(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """The CLI's own parser in this process (what `main` builds first): exit code and output."""
    parser, _ = _build_parser()
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(args)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("127.0.0.1:8080", "it does not start with http:// or https://"),
        ("http://", "it has no host name"),
        ("https://auvious.example.com:99999", "its port is not a number from 0 to 65535"),
    ],
)
def test_a_bad_server_url_is_a_usage_error(
    url: str, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = parse(["run", str(SCENARIO), "--server", url], capsys)
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        f"auvious-agent run: error: argument --server: {url!r} is not a platform URL: {why} "
        "(e.g. https://auvious.example.com)"
    )


def test_the_same_rule_holds_for_the_files_server_url() -> None:
    text = SCENARIO.read_text() + "server: {url: 'https://:443'}\n"
    with pytest.raises(ScenarioError) as raised:
        parse_scenario(text, "call.yaml")
    (issue,) = raised.value.issues
    assert "server.url" in str(issue) and "it has no host name" in str(issue)


@pytest.mark.slow  # `run` as a process, with the call stack imported
async def test_a_refused_login_exits_3_and_still_writes_junit(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    secret = "not-agent1s-secret"
    report = tmp_path / "report"
    report.mkdir()
    (report / "report.json").write_text("{}")  # an earlier run's: not to be taken for this one
    process = await asyncio.create_subprocess_exec(
        CLI, "run", SCENARIO, "--server", server.base_url, "--client-id", "agent1",
        "--report", report,
        env={**os.environ, "AUVIOUS_CLIENT_SECRET": secret},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(60):
        stdout, stderr = await process.communicate()
    output = stdout.decode() + stderr.decode()
    assert process.returncode == 3, output
    assert "Traceback" not in output and secret not in output
    junit = (report / "junit.xml").read_text()
    assert secret not in junit
    suite = ET.fromstring(junit).find("testsuite")
    assert suite is not None and suite.get("errors") == "1" and suite.get("name") == SCENARIO.stem
    error = suite.find("testcase/error")
    assert error is not None
    assert "cannot run two-party-call" in error.get("message", "")
    assert "401" in error.get("message", "")
    assert not (report / "report.json").exists()


def test_version_is_the_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    code, out, _ = parse(["--version"], capsys)
    assert code == 0
    assert out.strip() == f"auvious-agent {project['version']}"


async def test_the_platforms_address_points_to_the_client_page_and_the_api(
    http: aiohttp.ClientSession,
) -> None:
    async with http.get("/", headers={"Accept": "text/html,*/*;q=0.8"}) as response:
        assert response.status == 200 and response.content_type == "text/html"
        page = await response.text()
    assert '<a href="/client/">' in page and '<a href="/rtc-api/openapi.json">' in page
    async with http.get("/", headers={"Accept": "*/*"}) as response:
        assert response.status == 200 and response.content_type == "application/json"
        index = await response.json()
    assert index["client_page"] == "/client/" and index["token_endpoint"] == "/security/oauth/token"
    for key in ("client_page", "openapi"):  # the links lead somewhere
        async with http.get(index[key]) as response:
            assert response.status == 200, index[key]
