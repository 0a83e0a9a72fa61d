"""The Talkdesk integration calls against the embedded platform: contact linking, the
authorization check, and a contact's activity read from the organization's interactions."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.platform_support import PlatformUser

BASE = "/rtc-api/talkdesk-integration"


async def test_linking_a_contact_is_idempotent_per_organization(
    agent: PlatformUser, agent2: PlatformUser, outsider: PlatformUser
) -> None:
    first = await agent.call("POST", f"{BASE}/create", json={"data": {"contact_id": "td-1"}})
    assert first["message"] == "contact linked" and first["contact_external_id"]
    again = await agent2.call("POST", f"{BASE}/create", json={"data": {"contact_id": "td-1"}})
    assert again == {
        "message": "contact already linked",
        "contact_external_id": first["contact_external_id"],
    }
    theirs = await outsider.call("POST", f"{BASE}/create", json={"data": {"contact_id": "td-1"}})
    assert theirs["contact_external_id"] != first["contact_external_id"]

    bodies: list[dict[str, Any]] = [{}, {"data": {}}, {"data": {"contact_id": ""}}]
    for body in bodies:
        answer = await agent.call("POST", f"{BASE}/create", json=body, expect=400)
        assert answer["message"].startswith("data"), answer  # data, or data.contact_id
    answer = await agent.call("POST", f"{BASE}/create", json={"data": "x"}, expect=400)
    assert answer["message"].startswith("data")


async def test_authorization_validator_names_the_caller(agent: PlatformUser) -> None:
    answer = await agent.call(
        "POST", f"{BASE}/authorization-validator", json={"anything": {"nested": 1}}
    )
    assert answer == {
        "status": "valid",
        "userId": agent.user_id,
        "organizationId": "org1",
        "roles": "AGENT,SUPERVISOR",
    }
    await agent.call("POST", f"{BASE}/authorization-validator", json=[1], expect=400)


async def test_activity_lists_the_contacts_interactions(
    agent: PlatformUser, outsider: PlatformUser
) -> None:
    for interaction_id, kind, data in [
        ("i-video", "video", {"customerId": "td-9", "summary": "id check", "status": "closed"}),
        ("i-chat", "chat", {"customerId": "td-9", "priority": "high"}),
        ("i-other", "video", {"customerId": "someone-else"}),
    ]:
        await agent.call(
            "POST",
            "/rtc-api/interactions",
            json={"interactionId": interaction_id, "type": kind, "data": data},
        )
    await outsider.call(
        "POST",
        "/rtc-api/interactions",
        json={"interactionId": "o-1", "type": "video", "data": {"customerId": "td-9"}},
    )

    body = {"meta": {"interaction_types": []}, "data": {"contact_id": "td-9"}}
    async with agent.http.post(
        f"{BASE}/activity", json=body, headers={**agent.headers, "Host": "crm.example:8443"}
    ) as response:
        assert response.status == 200
        items = await response.json()
    assert [i["id"] for i in items] == ["i-chat", "i-video"]  # newest first
    chat, video = items
    assert video["subject"] == "video interaction" and video["description"] == "id check"
    assert video["status"] == "closed" and video["type"] == "video"
    assert video["url"] == "http://crm.example:8443/rtc-api/interactions/i-video"
    assert video["date"].endswith("Z")
    assert chat["priority"] == "high" and "description" not in chat

    only_video = {"meta": {"interaction_types": ["video"]}, "data": {"contact_id": "td-9"}}
    assert [i["id"] for i in await agent.call("POST", f"{BASE}/activity", json=only_video)] == [
        "i-video"
    ]
    theirs = await outsider.call("POST", f"{BASE}/activity", json=body)
    assert [i["id"] for i in theirs] == ["o-1"]
    answer = await agent.call("POST", f"{BASE}/activity", json={"meta": {}}, expect=400)
    assert answer["message"].startswith("data: Field required")


@pytest.mark.parametrize("name", ["create", "authorization-validator", "activity"])
async def test_calls_without_a_token_get_401(http: aiohttp.ClientSession, name: str) -> None:
    async with http.post(f"{BASE}/{name}", json={}) as response:
        assert response.status == 401
