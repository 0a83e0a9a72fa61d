"""Ratings against the embedded platform with plain aiohttp: seed 000's feedback items and
userRole, lookups by interaction and by conference, bad input, customers, walls, restart."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from server.embedded import EmbeddedServer
from tests.platform_support import CLIENTS, PlatformUser, customer_login, login

BASE = "/rtc-api/ratings"

FEEDBACK = [
    {"question": "How was the video?", "type": "RATING_1_10", "rating": 9},
    {"question": "Anything to add?", "type": "TEXT_300", "answer": "clear picture"},
    {"question": "Channel", "type": "SINGLE_CHOICE", "choice": "mobile"},
    {"question": "Topics", "type": "MULTIPLE_CHOICE", "choices": ["billing", "setup"]},
    {"question": "Overall", "type": "RATING_1_5", "rating": 4},
    {"question": "Details", "type": "TEXT_1000", "answer": "x" * 1000},
]


async def test_rating_with_feedback_is_found_by_interaction_and_conference(
    agent: PlatformUser, agent2: PlatformUser
) -> None:
    endpoint = await agent.register()
    body = {
        "userEndpointId": endpoint,
        "sessionType": "CONFERENCE",
        "sessionId": "conf-7",
        "rating": 5,
        "comment": "great",
        "feedback": FEEDBACK,
        "interactionId": "int-7",
    }
    rating_id = (await agent.call("POST", BASE, json=body))["id"]
    # Only a comment, or only feedback, is a rating too (seed 000: at least one of the three).
    await agent2.call(
        "POST", BASE, json={"sessionType": "CONFERENCE", "sessionId": "conf-7", "comment": "ok"}
    )
    await agent2.call(
        "POST",
        BASE,
        json={
            "sessionType": "CALL",
            "sessionId": "call-1",
            "feedback": FEEDBACK[:1],
            "interactionId": "int-7",
        },
    )

    by_interaction = await agent.call("GET", f"{BASE}/interactions/int-7")
    assert len(by_interaction) == 2
    mine = next(r for r in by_interaction if r["id"] == rating_id)
    assert mine["score"] == 5 and mine["comment"] == "great"
    assert mine["userId"] == agent.user_id and mine["userEndpointId"] == endpoint
    assert mine["userRole"] == "AGENT" and mine["organizationId"] == "org1"
    assert mine["sessionType"] == "CONFERENCE" and mine["sessionId"] == "conf-7"
    assert mine["feedback"] == FEEDBACK and mine["createdAt"].endswith("Z")
    by_conference = await agent.call("GET", f"{BASE}/conferences/conf-7")
    assert {r["comment"] for r in by_conference} == {"great", "ok"}
    assert await agent.call("GET", f"{BASE}/conferences/none") == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"sessionId": "c", "rating": 3}, "sessionType"),
        ({"sessionType": "CONFERENCE", "rating": 3}, "sessionId"),
        ({"sessionType": "MEETING", "sessionId": "c", "rating": 3}, "sessionType"),
        ({"sessionType": "CALL", "sessionId": "c"}, "at least one of rating, feedback or comment"),
        ({"sessionType": "CALL", "sessionId": "c", "rating": 6}, "rating"),
        ({"sessionType": "CALL", "sessionId": "c", "rating": "five"}, "rating"),
        (
            {"sessionType": "CALL", "sessionId": "c", "feedback": [{"question": "q"}]},
            "feedback.0.type",
        ),
        (
            {
                "sessionType": "CALL",
                "sessionId": "c",
                "feedback": [{"type": "RATING_1_5", "rating": 7}],
            },
            "feedback.0",
        ),
        (
            {
                "sessionType": "CALL",
                "sessionId": "c",
                "feedback": [{"type": "TEXT_300", "answer": "y" * 301}],
            },
            "300",
        ),
        (
            {
                "sessionType": "CALL",
                "sessionId": "c",
                "feedback": [FEEDBACK[0], {"type": "SINGLE_CHOICE"}],
            },
            "feedback.1.choice",
        ),
        (
            {
                "sessionType": "CALL",
                "sessionId": "c",
                "feedback": [{"type": "MULTIPLE_CHOICE", "choices": []}],
            },
            "feedback.0.choices",
        ),
        (
            {
                "sessionType": "CALL",
                "sessionId": "c",
                "feedback": [{"type": "YES_NO", "answer": "y"}],
            },
            "feedback.0.type",
        ),
    ],
)
async def test_bad_ratings_get_400_naming_the_field(
    agent: PlatformUser, body: dict[str, object], field: str
) -> None:
    answer = await agent.call("POST", BASE, json=body, expect=400)
    assert field in answer["message"]
    assert await agent.call("GET", f"{BASE}/conferences/c") == []


async def test_customers_rate_as_customers_and_read_only_their_own(
    agent: PlatformUser, http: aiohttp.ClientSession
) -> None:
    ticket = await agent.call(
        "POST",
        "/security/ticket",
        json={"type": "MULTI_USE_TICKET", "ttl": 600, "properties": {"conference_id": "conf-c"}},
    )
    customer = await customer_login(http, ticket["id"])
    await customer.call(
        "POST", BASE, json={"sessionType": "CONFERENCE", "sessionId": "conf-c", "rating": 2}
    )
    await agent.call(
        "POST", BASE, json={"sessionType": "CONFERENCE", "sessionId": "conf-c", "rating": 5}
    )
    [own] = await customer.call("GET", f"{BASE}/conferences/conf-c")
    assert own["userRole"] == "CUSTOMER" and own["score"] == 2
    assert {r["userRole"] for r in await agent.call("GET", f"{BASE}/conferences/conf-c")} == {
        "CUSTOMER",
        "AGENT",
    }


async def test_other_organizations_see_no_ratings(
    agent: PlatformUser, outsider: PlatformUser
) -> None:
    body = {"sessionType": "CONFERENCE", "sessionId": "conf-w", "rating": 1, "interactionId": "i"}
    await agent.call("POST", BASE, json=body)
    assert await outsider.call("GET", f"{BASE}/conferences/conf-w") == []
    assert await outsider.call("GET", f"{BASE}/interactions/i") == []
    await outsider.call("POST", BASE, json=body)
    assert len(await agent.call("GET", f"{BASE}/conferences/conf-w")) == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", BASE), ("GET", f"{BASE}/interactions/i"), ("GET", f"{BASE}/conferences/c")],
)
async def test_calls_without_a_token_get_401(
    http: aiohttp.ClientSession, method: str, path: str
) -> None:
    async with http.request(method, path, json={}) as response:
        assert response.status == 401


async def test_ratings_survive_a_restart(tmp_path: Path) -> None:
    clients = [spec for spec, _ in CLIENTS.values()]
    body = {"sessionType": "CALL", "sessionId": "call-r", "rating": 3, "feedback": FEEDBACK}
    async with (
        EmbeddedServer(clients, data_dir=tmp_path) as first,
        aiohttp.ClientSession(first.base_url) as http,
    ):
        rating_id = (await (await login(http, "agent1")).call("POST", BASE, json=body))["id"]
    async with (
        EmbeddedServer(clients, data_dir=tmp_path) as second,
        aiohttp.ClientSession(second.base_url) as http,
    ):
        [rating] = await (await login(http, "agent2")).call("GET", f"{BASE}/conferences/call-r")
        assert rating["id"] == rating_id and rating["feedback"] == FEEDBACK
