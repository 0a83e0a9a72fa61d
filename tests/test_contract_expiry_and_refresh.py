"""Two platform behaviours seen from outside: an endpoint whose keepalives stop expires and
leaves its conference, and the other participant hears it over the real MQTT channel; and a
refresh token stays usable after use (no rotation, as the real platform's OAuth server)."""

from __future__ import annotations

import json

import aiohttp

from server.embedded import EmbeddedServer
from tests.mqtt_support import client, next_message
from tests.platform_support import PlatformUser, basic


async def test_a_silent_endpoint_expires_and_the_others_hear_it_leave(
    server: EmbeddedServer, agent: PlatformUser, agent2: PlatformUser
) -> None:
    listening = await agent.register(keep_alive_seconds=60)
    silent = await agent2.register(keep_alive_seconds=1)
    conference = await agent.call("POST", "/rtc-api/conferences/create", json={})
    async with client(server.port, agent.user_id, agent.access_token) as mqtt:
        await mqtt.subscribe(agent.topic(listening), qos=1)
        for user, endpoint in ((agent, listening), (agent2, silent)):
            join = {"conferenceId": conference["id"], "userEndpointId": endpoint}
            await user.call("POST", "/rtc-api/conferences/join", json=join)
        seen: list[dict[str, object]] = []
        # No keepalive for `silent`: within its 1 s period (plus grace) it is gone.
        while not seen or seen[-1]["type"] != "ConferenceLeftEvent":
            message = await next_message(mqtt, within=10)
            seen.append(json.loads(message.payload))
    assert [(e["type"], e["userEndpointId"]) for e in seen] == [
        ("ConferenceJoinedEvent", listening),
        ("ConferenceJoinedEvent", silent),
        ("ConferenceLeftEvent", silent),
    ]
    assert seen[-1]["reason"] == "expired"
    assert [e["conferenceVersion"] for e in seen] == [0, 1, 2]
    view = await agent.call("GET", f"/rtc-api/conferences/{conference['id']}/simpleView")
    assert [p["id"] for p in view["participants"]] == [agent.user_id]


async def test_a_refresh_token_can_be_used_again(
    http: aiohttp.ClientSession, agent: PlatformUser
) -> None:
    data = {"grant_type": "refresh_token", "refresh_token": agent.token["refresh_token"]}
    subjects = []
    for _ in range(2):
        auth = basic("agent1", "agent1-secret")
        async with http.post("/security/oauth/token", data=data, headers=auth) as response:
            assert response.status == 200
            body = await response.json()
            assert body["refresh_token"] and body["access_token"] != agent.access_token
            subjects.append(body["sub"])
    assert subjects == [agent.user_id, agent.user_id]
