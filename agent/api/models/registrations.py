"""User endpoints (`/users/endpoints...`): register, keepalive, unregister, sendEvent."""

from __future__ import annotations

from pydantic import Field, StrictBool

from agent.api.models.base import CallerId, WireModel
from agent.api.models.common import EventBody

__all__ = [
    "MAX_KEEP_ALIVE_SECONDS",
    "KeepUserEndpointAliveWebCommand",
    "RegisterResult",
    "RegisterUserEndpointWebCommand",
    "SendEventToUserWebCommand",
    "UnregisterUserEndpointWebCommand",
]


MAX_KEEP_ALIVE_SECONDS = 3600
"""The longest keepalive period the local platform grants (docs/platform.md, limits)."""


class RegisterUserEndpointWebCommand(WireModel):
    """Body of `POST /users/endpoints` (answers a bare JSON string) and `.../register`."""

    user_endpoint_id: CallerId | None = None
    keep_alive_seconds: int = Field(ge=1, le=MAX_KEEP_ALIVE_SECONDS)
    server_keep_alive_reminder_on: StrictBool | None = None


class RegisterResult(WireModel):
    """Answer of `POST /users/endpoints/register` (the iOS flavour)."""

    id: str | None = None


class UnregisterUserEndpointWebCommand(WireModel):
    user_endpoint_id: str
    reason: str | None = None


class KeepUserEndpointAliveWebCommand(WireModel):
    user_endpoint_id: str


class SendEventToUserWebCommand(WireModel):
    """`POST /users/endpoints/sendEvent`; answers the number of messages sent (an integer)."""

    user_id: str
    organization_id: str
    user_endpoint_id: str | None = None
    event: EventBody
    masks: list[str] | None = None
    qos: int | None = None
