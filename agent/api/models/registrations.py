"""User endpoints (`/users/endpoints...`): register, keepalive, unregister, sendEvent."""

from __future__ import annotations

from pydantic import Field

from agent.api.models.base import WireModel
from agent.api.models.common import EventBody

__all__ = [
    "KeepUserEndpointAliveWebCommand",
    "RegisterResult",
    "RegisterUserEndpointWebCommand",
    "SendEventToUserWebCommand",
    "UnregisterUserEndpointWebCommand",
]


class RegisterUserEndpointWebCommand(WireModel):
    """Body of `POST /users/endpoints` (answers a bare JSON string) and `.../register`."""

    user_endpoint_id: str | None = None
    keep_alive_seconds: int = Field(ge=1)
    server_keep_alive_reminder_on: bool | None = None


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
