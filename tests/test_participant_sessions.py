"""Every aiohttp session the agent opens is closed, on every path a participant can end by:
a close cancelled half-way (a scenario run ending while a timeline unregisters), a close
before or during start (a crowd closed while members still arrive), a call still under
way when its client closes. An open one is logged by aiohttp as "Unclosed client session"
at the end of a run. Real local platform; the only hook records the sessions the
transport hands out, so the test can see each one's fate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from agent.api.errors import ApiError
from agent.api.http import Call, HttpTransport
from agent.participant import Participant
from server.embedded import EmbeddedServer
from tests.participant_support import credentials
from tests.waiting import LIVENESS


@pytest.fixture
def sessions(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[aiohttp.ClientSession]]:
    """Every session any transport used in the test."""
    seen: list[aiohttp.ClientSession] = []
    get_session = HttpTransport._get_session

    def recording(transport: HttpTransport, *args: Any) -> aiohttp.ClientSession:
        session = get_session(transport, *args)
        if session not in seen:
            seen.append(session)
        return session

    monkeypatch.setattr(HttpTransport, "_get_session", recording)
    yield seen


def left_open(sessions: list[aiohttp.ClientSession]) -> list[aiohttp.ClientSession]:
    return [session for session in sessions if not session.closed]


async def test_a_close_cancelled_half_way_still_closes_the_session(
    server: EmbeddedServer, sessions: list[aiohttp.ClientSession]
) -> None:
    me = Participant(server.base_url, credentials("agent1"), name="cancelled-close")
    await asyncio.wait_for(me.start(), LIVENESS)
    assert len(sessions) == 1

    closing = asyncio.create_task(me.close())
    await asyncio.sleep(0)  # into close(): it waits for the event channel to disconnect
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing

    assert not left_open(sessions), "the participant's own HTTP session was left open"


async def test_a_participant_closed_before_it_starts_opens_no_session(
    server: EmbeddedServer, sessions: list[aiohttp.ClientSession]
) -> None:
    me = Participant(server.base_url, credentials("agent1"), name="closed-first")
    await me.close()
    with pytest.raises(ApiError, match="closed"):
        await asyncio.wait_for(me.start(), LIVENESS)
    await me.close()
    assert me.endpoint_id is None
    assert server.platform.registrations.count() == 0
    assert not left_open(sessions)


async def test_a_participant_closed_while_it_starts_leaves_no_session_open(
    server: EmbeddedServer, sessions: list[aiohttp.ClientSession]
) -> None:
    me = Participant(server.base_url, credentials("agent1"), name="closed-while-starting")
    logged_in = asyncio.Event()
    me.auth.add_listener(lambda _token: logged_in.set())
    starting = asyncio.create_task(me.start())
    await asyncio.wait_for(logged_in.wait(), LIVENESS)  # start() goes on: registering
    await asyncio.wait_for(me.close(), LIVENESS)
    # However far start() got, it makes no HTTP call after the close: none opens a session.
    await asyncio.wait([starting], timeout=LIVENESS)
    assert starting.done()
    assert not left_open(sessions)


async def test_a_closed_transport_refuses_calls_rather_than_open_a_session(
    server: EmbeddedServer, sessions: list[aiohttp.ClientSession]
) -> None:
    transport = HttpTransport(server.base_url)
    call = Call("getHealth", "GET", "/rtc-api/health", authenticated=False)
    await transport.close()
    with pytest.raises(ApiError, match="closed") as caught:
        await transport.request(call)
    assert caught.value.operation == "getHealth"
    assert not sessions, "a closed transport opened a new session"
