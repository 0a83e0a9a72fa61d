"""The API client against the embedded platform: ratings (seed 000) and
interactions (seed 001), with the bad-input and
other-organization cases. Real HTTP on loopback, the real server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from agent.api.endpoints import ratings as rating_calls
from agent.api.errors import ApiError
from agent.api.models.common import SessionType
from agent.api.models.interactions import (
    CreateInteractionWebCommand,
    InteractionQuery,
    UpdateInteractionWebCommand,
)
from agent.api.models.ratings import CreateRatingWebCommand, FeedbackItem, FeedbackType
from tests.api_client_support import (
    AGENT2,
    SERVICE1,
    ClientFactory,
    connect,
    joined_conference,
    register,
    server,
)

__all__ = ["connect", "server"]  # fixtures, imported for pytest


async def test_ratings_with_feedback(connect: ClientFactory) -> None:
    client = await connect()
    endpoint = await register(client)
    conference_id = await joined_conference((client, endpoint))
    interaction_id = "interaction-" + uuid.uuid4().hex
    created = await client.ratings.create(
        CreateRatingWebCommand(
            user_endpoint_id=endpoint,
            session_type=SessionType.CONFERENCE,
            session_id=conference_id,
            rating=4,
            comment="clear audio",
            interaction_id=interaction_id,
            feedback=[
                FeedbackItem(
                    question="Would you call again?", type=FeedbackType.RATING_1_10, rating=9
                ),
                FeedbackItem(
                    question="Which?", type=FeedbackType.MULTIPLE_CHOICE, choices=["a", "b"]
                ),
            ],
        )
    )
    assert created.id
    by_conference = await client.ratings.find_by_conference(conference_id)
    assert [r.id for r in by_conference] == [created.id]
    rating = by_conference[0]
    assert rating.score == 4
    assert rating.feedback is not None and rating.feedback[0].rating == 9
    assert rating.user_role is not None
    by_interaction = await client.ratings.find_by_interaction(interaction_id)
    assert [r.id for r in by_interaction] == [created.id]

    stranger = await connect(AGENT2)
    assert await stranger.ratings.find_by_conference(conference_id) == []

    with pytest.raises(ApiError) as bad:
        await client.http.request(
            rating_calls.CREATE,
            json={"sessionType": "CONFERENCE", "sessionId": conference_id, "rating": 9},
        )
    assert bad.value.status == 400
    assert "rating" in bad.value.message


async def test_interactions_create_update_find_and_lock(connect: ClientFactory) -> None:
    agent = await connect()
    created = await agent.interactions.create(
        CreateInteractionWebCommand(type="video", data={"customerId": "c-1"})
    )
    interaction_id = created.interaction_id
    assert interaction_id and created.version is not None
    fetched = await agent.interactions.get(interaction_id)
    assert fetched.organization_id == "org1"
    assert fetched.data == {"customerId": "c-1"}

    await agent.interactions.update(
        interaction_id,
        UpdateInteractionWebCommand(data={"customerId": "c-2"}, version=created.version),
    )
    with pytest.raises(ApiError) as stale:
        await agent.interactions.update(
            interaction_id, UpdateInteractionWebCommand(type="audio", version=created.version)
        )
    assert stale.value.status == 409

    now = datetime.now(UTC)
    page = await agent.interactions.find(
        InteractionQuery(start=now - timedelta(hours=1), end=now + timedelta(hours=1), size=10)
    )
    assert interaction_id in {i.id for i in page.content or []}
    assert page.total_elements is not None and page.total_elements >= 1

    stranger = await connect(AGENT2)
    with pytest.raises(ApiError) as walled:
        await stranger.interactions.get(interaction_id)
    assert walled.value.status in (403, 404)


async def test_service_callers_must_name_the_organization(connect: ClientFactory) -> None:
    service = await connect(SERVICE1)
    with pytest.raises(ApiError) as missing:
        await service.interactions.create(CreateInteractionWebCommand(type="chat"))
    assert missing.value.status == 400
    assert "organizationId" in missing.value.message
    created = await service.interactions.create(
        CreateInteractionWebCommand(type="chat", organization_id="org1")
    )
    assert created.interaction_id
    agent = await connect()
    assert (await agent.interactions.get(created.interaction_id)).type == "chat"


async def test_interaction_filters_and_pages(connect: ClientFactory) -> None:
    agent = await connect()
    created = [
        await agent.interactions.create(CreateInteractionWebCommand(type=kind))
        for kind in ("video", "video", "video", "chat")
    ]
    videos = {c.interaction_id for c in created[:3]}
    now = datetime.now(UTC)
    window = {"start": now - timedelta(minutes=5), "end": now + timedelta(minutes=5)}
    first = await agent.interactions.find(InteractionQuery(**window, type="video", size=2, page=0))
    second = await agent.interactions.find(InteractionQuery(**window, type="video", size=2, page=1))
    assert first.total_elements == 3 and first.total_pages == 2
    assert len(first.content or []) == 2 and len(second.content or []) == 1
    assert {i.id for i in (first.content or []) + (second.content or [])} == videos
    assert first.first is True and second.last is True
    chats = await agent.interactions.find(InteractionQuery(**window, type="chat"))
    assert [i.id for i in chats.content or []] == [created[3].interaction_id]
    stranger = await connect(AGENT2)
    assert (await stranger.interactions.find(InteractionQuery(**window))).content == []
