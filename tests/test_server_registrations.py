"""User endpoints over HTTP: register flavours, keepalive, expiry, unregister, sendEvent."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from agent.api.models.events import UserEndpointKeepAliveReminderEvent
from server.embedded import EmbeddedServer
from server.events import RecordingPublisher
from tests.platform_support import PlatformUser

ENDPOINTS = "/rtc-api/users/endpoints"


def user_event(event_type: str, **fields: Any) -> dict[str, Any]:
    return {"type": event_type, "timestamp": "2024-05-01T10:00:00.000Z", **fields}


async def keepalive(user: PlatformUser, endpoint: str, expect: int = 204) -> Any:
    return await user.call(
        "POST", f"{ENDPOINTS}/keepalive", json={"userEndpointId": endpoint}, expect=expect
    )


async def test_both_register_flavours_answer_as_the_seed_says(
    http: aiohttp.ClientSession, agent: PlatformUser
) -> None:
    async with http.post(ENDPOINTS, json={"keepAliveSeconds": 30}, headers=agent.headers) as r:
        assert r.status == 200
        bare = await r.json()
    assert isinstance(bare, str) and bare
    wrapped = await agent.call("POST", f"{ENDPOINTS}/register", json={"keepAliveSeconds": 30})
    assert set(wrapped) == {"id"} and wrapped["id"] != bare
    chosen = await agent.register(userEndpointId="my-endpoint")
    assert chosen == "my-endpoint"


async def test_registering_a_taken_id_and_renewing_your_own(
    agent: PlatformUser, agent2: PlatformUser, server: EmbeddedServer
) -> None:
    await agent.register(keep_alive_seconds=30, userEndpointId="ep-1")
    assert await agent.register(keep_alive_seconds=90, userEndpointId="ep-1") == "ep-1"
    endpoint = server.platform.registrations.get("ep-1")
    assert endpoint is not None and endpoint.keep_alive_seconds == 90
    body = await agent2.call(
        "POST", ENDPOINTS, json={"keepAliveSeconds": 30, "userEndpointId": "ep-1"}, expect=409
    )
    assert "ep-1" in body["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "keepAliveSeconds"),
        ({"keepAliveSeconds": 0}, "keepAliveSeconds"),
        ({"keepAliveSeconds": "soon"}, "keepAliveSeconds"),
        (
            {"keepAliveSeconds": 5, "serverKeepAliveReminderOn": "maybe"},
            "serverKeepAliveReminderOn",
        ),
    ],
)
async def test_bad_register_bodies_are_400_naming_the_field(
    agent: PlatformUser, body: dict[str, Any], field: str
) -> None:
    answer = await agent.call("POST", ENDPOINTS, json=body, expect=400)
    assert field in answer["message"]


async def test_non_json_and_non_object_bodies_are_400(
    http: aiohttp.ClientSession, agent: PlatformUser
) -> None:
    for raw in ("{not json", "[1, 2]", ""):
        async with http.post(
            f"{ENDPOINTS}/keepalive",
            data=raw,
            headers={**agent.headers, "Content-Type": "application/json"},
        ) as r:
            assert r.status == 400, raw
            assert (await r.json())["message"]


async def test_keepalive_and_unregister(agent: PlatformUser, server: EmbeddedServer) -> None:
    endpoint = await agent.register()
    await agent.call(
        "POST", f"{ENDPOINTS}/keepalive", json={"userEndpointId": endpoint}, expect=204
    )
    await agent.call(
        "POST", f"{ENDPOINTS}/unregister", json={"userEndpointId": endpoint}, expect=204
    )
    assert server.platform.registrations.get(endpoint) is None
    body = await agent.call(
        "POST", f"{ENDPOINTS}/keepalive", json={"userEndpointId": endpoint}, expect=404
    )
    assert endpoint in body["message"]
    await agent.call("POST", f"{ENDPOINTS}/keepalive", json={}, expect=400)


async def test_other_users_endpoints_are_out_of_reach(
    agent: PlatformUser, agent2: PlatformUser, outsider: PlatformUser
) -> None:
    endpoint = await agent.register()
    body = {"userEndpointId": endpoint}
    await agent2.call("POST", f"{ENDPOINTS}/keepalive", json=body, expect=403)
    await agent2.call("POST", f"{ENDPOINTS}/unregister", json=body, expect=403)
    await outsider.call("POST", f"{ENDPOINTS}/keepalive", json=body, expect=404)
    await outsider.call("POST", f"{ENDPOINTS}/unregister", json=body, expect=404)


async def test_keepalives_keep_an_endpoint_and_silence_expires_it(
    agent: PlatformUser, agent2: PlatformUser, server: EmbeddedServer, recorder: RecordingPublisher
) -> None:
    kept = await agent.register(keep_alive_seconds=1)
    silent = await agent2.register(keep_alive_seconds=1)
    conference = await agent.call("POST", "/rtc-api/conferences/create", json={})
    for user, endpoint in ((agent, kept), (agent2, silent)):
        await user.call(
            "POST",
            "/rtc-api/conferences/join",
            json={"conferenceId": conference["id"], "userEndpointId": endpoint},
        )
    # Keep one endpoint alive for three periods while the other goes quiet.
    for _ in range(6):
        await agent.call(
            "POST", f"{ENDPOINTS}/keepalive", json={"userEndpointId": kept}, expect=204
        )
        await asyncio.sleep(0.5)
    assert server.platform.registrations.get(kept) is not None
    assert server.platform.registrations.get(silent) is None
    left = await recorder.wait_for(
        lambda topic, e: topic == agent.topic(kept) and e["type"] == "ConferenceLeftEvent"
    )
    assert left["userEndpointId"] == silent
    assert left["userId"] == agent2.user_id
    assert left["reason"] == "expired"
    view = await agent.call("GET", f"/rtc-api/conferences/{conference['id']}/simpleView")
    assert [p["id"] for p in view["participants"]] == [agent.user_id]
    await agent2.call("POST", f"{ENDPOINTS}/keepalive", json={"userEndpointId": silent}, expect=404)


async def test_unregister_leaves_conferences_with_an_event(
    agent: PlatformUser, agent2: PlatformUser, recorder: RecordingPublisher
) -> None:
    mine = await agent.register()
    theirs = await agent2.register()
    conference = await agent.call("POST", "/rtc-api/conferences/create", json={})
    for user, endpoint in ((agent, mine), (agent2, theirs)):
        await user.call(
            "POST",
            "/rtc-api/conferences/join",
            json={"conferenceId": conference["id"], "userEndpointId": endpoint},
        )
    await agent2.call(
        "POST",
        f"{ENDPOINTS}/unregister",
        json={"userEndpointId": theirs, "reason": "shutting down"},
        expect=204,
    )
    left = await recorder.wait_for(
        lambda topic, e: topic == agent.topic(mine) and e["type"] == "ConferenceLeftEvent"
    )
    assert (left["userEndpointId"], left["reason"]) == (theirs, "shutting down")


async def test_keepalive_reminder_reaches_the_endpoint_before_expiry(
    agent: PlatformUser, recorder: RecordingPublisher
) -> None:
    endpoint = await agent.register(keep_alive_seconds=2, serverKeepAliveReminderOn=True)
    quiet = await agent.register(keep_alive_seconds=2)
    reminder = await recorder.wait_for(
        lambda topic, e: e["type"] == UserEndpointKeepAliveReminderEvent().type, within=5.0
    )
    assert reminder["userEndpointId"] == endpoint
    assert recorder.events_for(agent.topic(endpoint)) == [reminder]
    assert recorder.events_for(agent.topic(quiet)) == []


async def test_send_event_reaches_every_endpoint_of_a_user_in_the_organization(
    agent: PlatformUser,
    agent2: PlatformUser,
    outsider: PlatformUser,
    service: PlatformUser,
    recorder: RecordingPublisher,
    server: EmbeddedServer,
) -> None:
    first, second = await agent2.register(), await agent2.register()
    foreign = await outsider.register()
    send = f"{ENDPOINTS}/sendEvent"
    event = user_event("CallRequestedEvent", note="hello")
    body = {"userId": agent2.user_id, "organizationId": "org1", "event": event}
    assert await agent.call("POST", send, json=body) == 2
    assert await agent.call("POST", send, json={**body, "userEndpointId": second}) == 1
    await server.platform.events.drain()
    assert len(recorder.events_for(agent2.topic(first))) == 1
    assert len(recorder.events_for(agent2.topic(second))) == 2
    delivered = recorder.events_for(agent2.topic(first))[0]
    # As sent, plus the platform's mark of who sent it (issue 13: never taken for its own).
    assert delivered == {**event, "sentBy": {"userId": agent.user_id, "organizationId": "org1"}}
    # Organizations are walls: naming another organization does not cross them...
    to_outsider = {"userId": outsider.user_id, "organizationId": "org2", "event": event}
    assert await agent.call("POST", send, json=to_outsider) == 0
    # ...unless the caller is a SERVICE, which acts for the organization it names.
    assert await service.call("POST", send, json=to_outsider) == 1
    await recorder.wait_for(lambda t, e: t == outsider.topic(foreign))


@pytest.mark.parametrize(
    ("event", "fragment"),
    [
        ({"timestamp": "2024-05-01T10:00:00Z"}, "event"),
        ({"type": "lowercase", "timestamp": "2024-05-01T10:00:00Z"}, "event.type"),
        ({"type": "SomethingHappenedEvent"}, "event.timestamp"),
    ],
)
async def test_send_event_checks_the_event(
    agent: PlatformUser, event: dict[str, Any], fragment: str
) -> None:
    body = {"userId": agent.user_id, "organizationId": "org1", "event": event}
    answer = await agent.call("POST", f"{ENDPOINTS}/sendEvent", json=body, expect=400)
    assert fragment in answer["message"]
