"""The older servers' event topic `users/endpoints/{userEndpointId}` (PROTOCOL.md) over the
embedded platform: open to the user that registered the endpoint, and to nobody else."""

from __future__ import annotations

import json

from server.embedded import EmbeddedServer
from tests.mqtt_support import client, codes, next_message, no_message
from tests.platform_support import PlatformUser

REFUSED = 0x80


async def test_the_legacy_topic_is_the_endpoint_owners_only(
    server: EmbeddedServer, agent: PlatformUser, agent2: PlatformUser
) -> None:
    mine = await agent.register()
    theirs = await agent2.register()
    async with (
        client(server.port, agent.user_id, agent.access_token) as mqtt,
        client(server.port, agent2.user_id, agent2.access_token) as other,
    ):
        granted = await mqtt.subscribe(f"users/endpoints/{mine}", qos=1)
        assert codes(granted) == [1]
        for topic in (f"users/endpoints/{theirs}", "users/endpoints/no-such", "users/endpoints/+"):
            refused = await mqtt.subscribe(topic, qos=1)
            assert codes(refused) == [REFUSED], topic
        granted = await other.subscribe(f"users/endpoints/{theirs}", qos=1)
        assert codes(granted) == [1]

        conference = await agent.call("POST", "/rtc-api/conferences/create", json={})
        join = {"conferenceId": conference["id"], "userEndpointId": mine}
        await agent.call("POST", "/rtc-api/conferences/join", json=join)
        join = {"conferenceId": conference["id"], "userEndpointId": theirs}
        await agent2.call("POST", "/rtc-api/conferences/join", json=join)

        # Each sees its own join, then the owner of `mine` sees the other's join: on the
        # legacy topic, as the same events the `user/...` topic carries.
        first = await next_message(mqtt)
        second = await next_message(mqtt)
        assert str(first.topic) == str(second.topic) == f"users/endpoints/{mine}"
        events = [json.loads(m.payload) for m in (first, second)]
        assert [e["type"] for e in events] == ["ConferenceJoinedEvent"] * 2
        assert [e["userEndpointId"] for e in events] == [mine, theirs]
        assert events[1]["conferenceVersion"] == events[0]["conferenceVersion"] + 1
        # The other user's legacy topic carries only its own (the second join).
        own = json.loads((await next_message(other)).payload)
        assert own == events[1]
        await no_message(other)

    # Once the endpoint is gone, its legacy topic is nobody's.
    unregister = {"userEndpointId": mine}
    await agent.call("POST", "/rtc-api/users/endpoints/unregister", json=unregister, expect=204)
    async with client(server.port, agent.user_id, agent.access_token) as mqtt:
        refused = await mqtt.subscribe(f"users/endpoints/{mine}", qos=1)
        assert codes(refused) == [REFUSED]
