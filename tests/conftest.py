"""Shared fixtures: the real local platform on loopback, and logged-in users to drive it.

`loopback_ice` (session, autouse): ICE host candidates on 127.0.0.1 only, for subprocesses too,
with every seam of `agent.webrtc.seams` installed, as the CLI and the platform install them (the
tests of the fast packet path and of the light receiver need them; importing installs nothing).

Fixtures (all function-scoped: every test gets a fresh platform):
- `recorder`: a `server.events.RecordingPublisher` that sees every event the platform sends
  (next to the real MQTT broker). `await recorder.wait_for(lambda topic, event: ...)` returns
  the first matching event or raises TimeoutError; `recorder.events_for(topic)` lists them.
- `server`: a running `server.embedded.EmbeddedServer` with the clients in `CLIENTS` (two
  organizations), `recorder` attached, and a short events long-poll (`LONG_POLL_SECONDS`).
  `server.base_url`, `server.ws_url`, `server.platform` (live state) are what tests use.
- `http`: an `aiohttp.ClientSession` on `server.base_url` (plain HTTP, no project client).
- `agent`, `agent2`, `service`, `outsider`: `PlatformUser`s logged in with client_credentials:
  AGENT+SUPERVISOR in org1, AGENT in org1, SERVICE in org1, AGENT in org2.
- `call`: a `tests.participant_support.Call` on `server`; its participants (the agent's
  `Participant`) leave and unregister at the end of the test.

Helpers (in `tests/platform_support.py`, import them from there):
- `await get_token(http, client_id, secret)` -> the token response (dict) of client_credentials.
- `await login(http, client_id)` -> `PlatformUser` for a client of `CLIENTS`.
- `await customer_login(http, ticket_id)` -> `PlatformUser` logged in with a ticket.
- `basic(client_id, secret)` -> headers with HTTP Basic client authentication.
- `PlatformUser.call(method, path, json=..., expect=200)` -> the decoded body (None for 204),
  asserting the status; `.register()` -> a new user endpoint id; `.topic(endpoint_id)`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack

import aiohttp
import pytest

from agent.webrtc import seams
from agent.webrtc.host_addresses import HOST_ADDRESSES_ENV, LOOPBACK, use_host_addresses
from server.embedded import EmbeddedServer
from server.events import RecordingPublisher
from tests.participant_support import Call
from tests.platform_support import CLIENTS, LONG_POLL_SECONDS, PlatformUser, login


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests using the Ray `cluster` (tests/ray_support.py) are `serial`: `scripts/test` runs
    the suite on pytest-xdist workers but the `serial` tests after, one at a time, on a CPU the
    suite leaves alone (a local Ray cluster's processes, Chromium, or a floor on fps, jitter or
    event-loop lag would otherwise compete with two other workers' calls)."""
    for item in items:
        if "cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.serial)


@pytest.fixture(scope="session", autouse=True)
def loopback_ice() -> Iterator[None]:
    """Every peer connection of the tests gathers on 127.0.0.1 only (aioice skips loopback and
    would use the machine's interfaces), subprocesses too, through the environment."""
    before = os.environ.get(HOST_ADDRESSES_ENV)
    seams.install()
    use_host_addresses(LOOPBACK, subprocesses=True)
    yield
    use_host_addresses(None, subprocesses=True)
    if before is not None:
        os.environ[HOST_ADDRESSES_ENV] = before


@pytest.fixture
def recorder() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
async def server(recorder: RecordingPublisher) -> AsyncIterator[EmbeddedServer]:
    async with EmbeddedServer(
        [spec for spec, _ in CLIENTS.values()],
        publisher=recorder,
        long_poll_seconds=LONG_POLL_SECONDS,
        housekeeping_interval=0.05,
    ) as srv:
        yield srv


@pytest.fixture
async def http(server: EmbeddedServer) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(server.base_url) as session:
        yield session


@pytest.fixture
async def agent(http: aiohttp.ClientSession) -> PlatformUser:
    return await login(http, "agent1")


@pytest.fixture
async def agent2(http: aiohttp.ClientSession) -> PlatformUser:
    return await login(http, "agent2")


@pytest.fixture
async def service(http: aiohttp.ClientSession) -> PlatformUser:
    return await login(http, "service1")


@pytest.fixture
async def outsider(http: aiohttp.ClientSession) -> PlatformUser:
    return await login(http, "outsider")


@pytest.fixture
async def call(server: EmbeddedServer) -> AsyncIterator[Call]:
    async with AsyncExitStack() as stack:
        yield Call(server, stack)
