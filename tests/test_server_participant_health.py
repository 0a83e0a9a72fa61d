"""`simpleView` and `active` show each participant HEALTHY, or SICK while its keepalives are
late or its media lapses (issue 16: the seed's ParticipantState enum), and HEALTHY again once
they arrive."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agent.network import NetworkShaper
from agent.network.profile import IDEAL, OUTAGE
from server.conferences.service import MEDIA_LAPSE
from tests.participant_support import CAM, Call, small_tracks
from tests.platform_support import PlatformUser
from tests.waiting import LIVENESS

CONF = "/rtc-api/conferences"


def _states(view: dict[str, Any]) -> dict[str, str]:
    return {e["id"]: e["state"] for p in view["participants"] for e in p["endpoints"]}


async def _state_becomes(agent: PlatformUser, conference: str, endpoint: str, state: str) -> None:
    async with asyncio.timeout(10):
        while True:
            view = await agent.call("GET", f"{CONF}/{conference}/simpleView")
            if _states(view)[endpoint] == state:
                return
            await asyncio.sleep(0.1)


async def test_a_participant_whose_keepalives_lapse_is_sick_until_one_arrives(
    agent: PlatformUser,
) -> None:
    conference = (await agent.call("POST", f"{CONF}/create", json={}))["id"]
    endpoint = await agent.register(keep_alive_seconds=4)  # SICK 1 s before expiry (+ grace)
    body = {"conferenceId": conference, "userEndpointId": endpoint}
    await agent.call("POST", f"{CONF}/join", json=body)
    assert _states(await agent.call("GET", f"{CONF}/{conference}/simpleView")) == {
        endpoint: "HEALTHY"
    }
    await _state_becomes(agent, conference, endpoint, "SICK")
    (active,) = [c for c in await agent.call("GET", f"{CONF}/active") if c["id"] == conference]
    assert [p["state"] for p in active["participants"]] == ["SICK"]
    keepalive = {"userEndpointId": endpoint}
    await agent.call("POST", "/rtc-api/users/endpoints/keepalive", json=keepalive, expect=204)
    await _state_becomes(agent, conference, endpoint, "HEALTHY")


@pytest.mark.slow
async def test_a_publisher_whose_media_lapses_is_sick_while_its_keepalives_are_on_time(
    call: Call,
) -> None:
    """A real outage of the publisher's link (every packet of its peer connections dropped,
    its HTTP keepalives untouched): SICK after the platform's media lapse, HEALTHY again when
    packets flow."""
    link = NetworkShaper(IDEAL)
    publisher = await call.participant("agent1", network=link)
    await publisher.publish(CAM, small_tracks(CAM))
    other = await call.participant("agent2")
    assert call.conference_id is not None and publisher.endpoint_id is not None

    async def state() -> str:
        view = await other.api.conferences.simple_view(call.conference_id or "")
        (found,) = [
            str(e.state)
            for p in view.participants or []
            for e in p.endpoints or []
            if e.id == publisher.endpoint_id
        ]
        return found

    async def becomes(wanted: str) -> None:
        async with asyncio.timeout(LIVENESS):
            while True:
                if await state() == wanted:
                    return
                await asyncio.sleep(0.1)

    await asyncio.sleep(MEDIA_LAPSE + 0.5)
    assert await state() == "HEALTHY", "media flowing: healthy past the lapse"
    link.apply(OUTAGE)
    await becomes("SICK")
    link.apply(IDEAL)
    await becomes("HEALTHY")
