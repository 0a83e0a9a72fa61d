"""The endpoint in this process against the embedded platform (issue 16): capture devices
(lavfi, the virtual input PyAV provides here) published into a call, systemd's notification
socket (a real unix datagram socket), the health port, who may invite it, login by ticket."""

from __future__ import annotations

import asyncio
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.api.auth import ClientCredentials
from agent.api.models import CreateConferenceWebCommand
from agent.endpoint.cli import login_of
from agent.endpoint.health import HealthServer
from agent.endpoint.invitation import invite_command
from agent.endpoint.model import EndpointSpec
from agent.endpoint.runner import Endpoint
from agent.endpoint.service import StartRefused, serve_endpoint
from agent.participant import Participant
from server.embedded import EmbeddedServer
from tests.participant_support import CAM, Call, credentials, small_tracks
from tests.platform_support import login, make_ticket
from tests.resume_support import media_flowing
from tests.waiting import LIVENESS, wait_until


def _spec(server: EmbeddedServer, **fields: Any) -> EndpointSpec:
    return EndpointSpec.model_validate(
        {
            "name": "kiosk",
            "server": {"url": server.base_url, "client_id": "agent1"},
            "keep_alive": "5s",
            **fields,
        }
    )


def _endpoint(server: EmbeddedServer, spec: EndpointSpec) -> Endpoint:
    return Endpoint(spec, server.base_url, credentials("agent1"))


@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    """What systemd listens on (a short path: unix socket paths are limited to 108 bytes)."""
    folder = tempfile.mkdtemp(prefix="sd-", dir="/tmp")
    path = f"{folder}/notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.setblocking(False)
    try:
        yield sock, path
    finally:
        sock.close()
        Path(path).unlink()
        Path(folder).rmdir()


def _received(sock: socket.socket) -> list[str]:
    messages = []
    while True:
        try:
            messages.append(sock.recv(4096).decode())
        except BlockingIOError:
            return messages


async def test_a_device_camera_and_microphone_are_published_and_systemd_hears_the_service(
    server: EmbeddedServer, call: Call, notify_socket: tuple[socket.socket, str]
) -> None:
    agent = await call.participant("agent2")
    await agent.publish(CAM, small_tracks(CAM))
    assert call.conference_id is not None
    spec = _spec(
        server,
        conference=call.conference_id,
        publish={
            "type": "MIC_AND_CAM",
            "camera": {"format": "lavfi", "device": "testsrc=size=320x240:rate=15"},
            "microphone": {"format": "lavfi", "device": "sine=frequency=440"},
            "resolution": "320x180",
            "fps": 15,
        },
    )
    sock, path = notify_socket
    env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"}
    health = HealthServer(None, 0)
    stop = asyncio.Event()
    made: list[Endpoint] = []

    def make() -> Endpoint:
        made.append(_endpoint(server, spec))
        return made[-1]

    service = asyncio.ensure_future(serve_endpoint(make, stop, health=health, env=env))
    try:
        heard: list[str] = []

        def pinged() -> bool:
            heard.extend(_received(sock))
            return "WATCHDOG=1" in heard

        await wait_until(pinged, "systemd's watchdog pinged")
        assert heard[0].startswith("READY=1")
        base = f"http://127.0.0.1:{health.port}"
        async with aiohttp.ClientSession() as http:
            await _ready(http, base)
            await media_flowing(agent, LIVENESS)  # the device's picture reaches the agent
            viewer = next(iter(agent.viewers.values()))
            assert viewer.frames("audio") > 0
            async with http.get(f"{base}/metrics") as answer:
                metrics = await answer.text()
        microphone = 'auvious_agent_endpoint_device_live{device="lavfi:sine=frequency=440"}'
        assert f"{microphone} 1.0" in metrics
        assert "auvious_agent_endpoint_in_conference 1.0" in metrics
        assert any(m.startswith("STATUS=ready, in conference") for m in heard + _received(sock))
        # Its stream unpublished behind its back: it is not ready, then publishes again.
        me = made[-1].participant
        await me.unpublish(me.publishers[0])
        await wait_until(lambda: bool(me.timeline.find("republish")), "published again")
        async with aiohttp.ClientSession() as http:
            assert (await _ready(http, base))["in_conference"] is True
        await media_flowing(agent, LIVENESS)
    finally:
        stop.set()
        assert await service == 0
    assert "STOPPING=1" in _received(sock)
    view = await agent.api.conferences.simple_view(call.conference_id)
    endpoints = {e.id for p in view.participants or [] for e in p.endpoints or []}
    assert endpoints == {agent.endpoint_id}, "the endpoint left on stop"


async def _ready(http: aiohttp.ClientSession, base: str) -> dict[str, Any]:
    body: dict[str, Any] = {}
    async with asyncio.timeout(LIVENESS):
        while True:
            async with http.get(f"{base}/readyz") as answer:
                body = await answer.json()
                if answer.status == 200:
                    return body
            await asyncio.sleep(0.1)


async def test_invitations_count_only_from_the_users_the_file_allows(
    server: EmbeddedServer,
) -> None:
    async with Participant(server.base_url, credentials("agent2"), name="agent2") as agent2:
        allowed = (await agent2.api.claims()).sub
        created = await agent2.api.conferences.create(CreateConferenceWebCommand())
        assert created.id and allowed
        only = {"from_users": [allowed]}
        endpoint = _endpoint(server, _spec(server, publish=None, invitations=only))
        await endpoint.start()
        try:
            me = endpoint.participant
            assert me.user_id and endpoint.organization_id and me.endpoint_id
            # The endpoint's own user from another app: not on the list.
            async with Participant(
                server.base_url, credentials("agent1"), name="agent1"
            ) as stranger:
                await stranger.api.registrations.send_event(
                    invite_command(me.user_id, endpoint.organization_id, created.id)
                )
                await wait_until(lambda: endpoint.refused_invitations == 1, "refused")
            assert me.conference_id is None
            await agent2.api.registrations.send_event(
                invite_command(me.user_id, endpoint.organization_id, created.id, me.endpoint_id)
            )
            await wait_until(lambda: me.conference_id == created.id, "joined when invited")
            assert endpoint.invitations == 1 and endpoint.readiness().ready
        finally:
            await endpoint.close()


async def test_an_endpoint_with_a_ticket_joins_the_tickets_conference(
    server: EmbeddedServer, http: aiohttp.ClientSession
) -> None:
    agent = await login(http, "agent2")
    created = await agent.call("POST", "/rtc-api/conferences/create", json={})
    ticket = await make_ticket(agent, created["id"])
    spec = EndpointSpec.model_validate(
        {
            "name": "visitor",
            "server": {"url": server.base_url},
            "ticket_env": "VISITOR_TICKET",
            "publish": {"type": "MIC", "microphone": "silence"},
        }
    )
    endpoint = Endpoint(spec, server.base_url, login_of(spec, {"VISITOR_TICKET": ticket})())
    await endpoint.start()
    try:
        await wait_until(lambda: endpoint.readiness().ready, "ready in the ticket's conference")
        assert endpoint.participant.conference_id == created["id"]
    finally:
        await endpoint.close()


async def test_a_refused_login_ends_the_start_with_the_platforms_answer(
    server: EmbeddedServer,
) -> None:
    spec = _spec(server, publish=None)
    wrong = ClientCredentials("agent1", "not-the-secret")
    stop = asyncio.Event()
    with pytest.raises(StartRefused) as refused:
        await serve_endpoint(lambda: Endpoint(spec, server.base_url, wrong), stop)
    assert "401" in str(refused.value) or "400" in str(refused.value), refused.value
    assert "not-the-secret" not in str(refused.value)
