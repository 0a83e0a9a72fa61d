"""`simpleView` and `active` show each participant HEALTHY, or SICK while its keepalives are
late (issue 16: the seed's ParticipantState enum), and HEALTHY again once one arrives."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.platform_support import PlatformUser

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
