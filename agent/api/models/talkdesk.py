"""Talkdesk integration (`/talkdesk-integration/...`): snake_case on the wire, as in the seed."""

from __future__ import annotations

from typing import Any

from pydantic import Field, RootModel

from agent.api.models.base import SnakeWireModel

__all__ = [
    "Meta",
    "RequestData",
    "TalkdeskAuthorizationRequest",
    "TalkdeskContactActivityRequest",
    "TalkdeskContactActivityResponseItem",
    "TalkdeskCreateTalkdeskRequest",
    "TalkdeskCreateTalkdeskResponse",
]


class RequestData(SnakeWireModel):
    contact_id: str = Field(min_length=1)


class TalkdeskCreateTalkdeskRequest(SnakeWireModel):
    """`POST /talkdesk-integration/create`."""

    data: RequestData


class TalkdeskCreateTalkdeskResponse(SnakeWireModel):
    message: str | None = None
    contact_external_id: str | None = None


class Meta(SnakeWireModel):
    interaction_types: list[str] | None = None


class TalkdeskContactActivityRequest(SnakeWireModel):
    """`POST /talkdesk-integration/activity`; answers a list of response items."""

    meta: Meta | None = None
    data: RequestData


class TalkdeskContactActivityResponseItem(SnakeWireModel):
    id: str | None = None
    subject: str | None = None
    description: str | None = None
    date: str | None = None
    url: str | None = None
    type: str | None = None
    priority: str | None = None
    status: str | None = None


class TalkdeskAuthorizationRequest(RootModel[dict[str, Any]]):
    """Body of `POST /talkdesk-integration/authorization-validator`: any JSON object."""
