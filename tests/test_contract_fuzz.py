"""A bounded schemathesis run of the platform's OpenAPI documents with a real token.

It fails on any 5xx (`not_a_server_error`), on a request the document calls valid that the
server refuses (`positive_data_acceptance`: only 2xx, 401, 403, 404, 409 and 429 are fine for
those), and on any traceback or error the platform writes to its log meanwhile. Bounded and
repeatable: a fixed seed, a few examples per operation, no example database. Strings are
generated as UTF-8 (lone surrogates are not text the wire can carry) without NUL bytes.

One run per API of the document (`/rtc-api/`, the Recorder's, the Composition's). Path and
query parameters that name a stored object (a conference, interaction, asset, recording, its
cobrowse session, a composition) get a real one's id (`[parameters]` of schemathesis.toml), so
those operations reach past their 404.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import aiohttp
import pytest

from server.embedded import EmbeddedServer
from tests.platform_support import PlatformUser, login
from tests.recorder_support import BASE, start_recording
from tests.records_support import form

DOCUMENT = "/rtc-api/openapi.json"
APIS = [
    pytest.param("/rtc-api/", id="rtc-api"),
    pytest.param("/rtc-recorder/api/", id="recorder"),
    pytest.param("/composition/api/", id="composition"),
]
EXAMPLES_PER_OPERATION = 3
SEED = 13
RUN_TIMEOUT = 240.0


def _schemathesis() -> Path:
    return Path(sys.executable).with_name("st")


async def _real_ids(agent: PlatformUser) -> dict[str, str]:
    """Objects for the fuzzer to aim at, by the names of the parameters that carry their ids."""
    conference = "fuzz-conference"
    await agent.call("POST", "/rtc-api/conferences/create", json={"conferenceId": conference})
    endpoint = await agent.register()
    join = {"conferenceId": conference, "userEndpointId": endpoint}
    await agent.call("POST", "/rtc-api/conferences/join", json=join)
    await agent.call("POST", "/rtc-api/interactions", json={"interactionId": "fuzz-case"})
    fields = {"applicationId": "fuzz-app", "category": "c", "rolesAllowedAccess": "agent"}
    asset = form(fields, file=(b"fuzz", "fuzz.txt", "text/plain"))
    await agent.call("POST", "/rtc-api/assets/fuzz-asset", data=asset, expect=204)
    recording = await start_recording(agent, conference, "fuzz-conversation")
    triple = {k: recording[k] for k in ("conversationId", "recorderId", "instanceId")}
    event = {"payload": "{}", "sequenceId": 1, "sessionId": "fuzz-session", "timestamp": 1}
    await agent.call("POST", f"{BASE}/recordings/cobrowse/event", json={**triple, "event": event})
    request = {"conversationId": "fuzz-conversation", "type": "AUDIO", "layout": "GRID"}
    request |= {"name": "fuzz", "resolution": "320x240"}
    composition = await agent.call("POST", "/composition/api/request", json=request)
    return {
        **triple,
        "id": conference,
        "conferenceId": conference,
        "interactionId": "fuzz-case",
        "assetId": "fuzz-asset",
        "applicationId": "fuzz-app",
        "sessionId": "fuzz-session",
        "compositionId": composition["id"],
    }


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("api", APIS)
async def test_the_schema_fuzzer_finds_nothing(
    server: EmbeddedServer,
    http: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    api: str,
) -> None:
    async with http.get(DOCUMENT) as response:
        assert response.status == 200
        if not any(path.startswith(api) for path in (await response.json())["paths"]):
            pytest.skip(f"the platform serves no {api} operations")
    agent = await login(http, "agent1")
    config = tmp_path / "schemathesis.toml"
    lines = [f'{name} = "{value}"' for name, value in (await _real_ids(agent)).items()]
    config.write_text("\n".join(["[parameters]", *lines, ""]), encoding="utf-8")
    caplog.set_level(logging.INFO)
    command = [
        str(_schemathesis()),
        "--config-file",
        str(config),
        "run",
        f"{server.base_url}{DOCUMENT}",
        "--include-path-regex",
        f"^{api}",
        "--url",
        server.base_url,
        "-H",
        f"Authorization: Bearer {agent.access_token}",
        "--checks",
        "not_a_server_error,positive_data_acceptance",
        "--phases",
        "coverage,fuzzing",
        "--mode",
        "all",
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--seed",
        str(SEED),
        # One worker: hypothesis describes strategies with ast.parse, which CPython 3.11 does
        # not support from two threads at once (SystemError: AST constructor recursion depth).
        "--workers",
        "1",
        "--no-shrink",
        "--max-failures",
        "1",  # one finding fails the run: no need to spend the budget finding more
        # Hypothesis' own speed checks (too_slow...) judge the generator on a loaded machine,
        # not the API; they failed runs when other work held the CPU.
        "--suppress-health-check",
        "all",
        "--generation-codec",
        "utf-8",
        "--generation-allow-x00",
        "false",
        "--generation-database",
        "none",
        "--request-timeout",
        "30",
        "--no-color",
    ]
    run = await asyncio.create_subprocess_exec(
        *command,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(run.communicate(), RUN_TIMEOUT)
    report = output.decode(errors="replace")
    assert run.returncode == 0, report[-20_000:]
    assert "passed" in report, report[-2_000:]  # it ran operations, not nothing
    troubles = [
        f"{r.levelname} {r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.name.startswith(("server", "aiohttp", "amqtt"))
        and (r.levelno >= logging.ERROR or r.exc_info is not None)
    ]
    assert troubles == [], "\n".join(troubles)
