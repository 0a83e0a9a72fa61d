"""The invitation event: how another participant asks an endpoint to join a conference.

A client event (sent with `POST /users/endpoints/sendEvent`, which the platform delivers
marked with `sentBy`), never one of the platform's own types, which clients may not send:

    {"type": "EndpointInvitationEvent", "timestamp": "2026-12-07T18:00:00Z",
     "conferenceId": "<conference id>", "reason": "optional text for the log"}
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field, ValidationError

from agent.api.models.base import WireModel
from agent.api.models.events import ClientEvent
from agent.api.models.registrations import SendEventToUserWebCommand

__all__ = ["INVITATION_TYPE", "EndpointInvitation", "invitation_of", "invite_command"]

INVITATION_TYPE = "EndpointInvitationEvent"


class EndpointInvitation(WireModel):
    type: Literal["EndpointInvitationEvent"] = "EndpointInvitationEvent"
    timestamp: datetime = Field(default_factory=lambda: datetime.now(UTC))
    conference_id: str = Field(min_length=1)
    reason: str | None = None


def invite_command(
    user_id: str,
    organization_id: str,
    conference_id: str,
    user_endpoint_id: str | None = None,
    reason: str | None = None,
) -> SendEventToUserWebCommand:
    """The `sendEvent` body that invites `user_id`'s endpoint (all of them without
    `user_endpoint_id`) to `conference_id`."""
    event = EndpointInvitation(conference_id=conference_id, reason=reason)
    return SendEventToUserWebCommand(
        user_id=user_id,
        organization_id=organization_id,
        user_endpoint_id=user_endpoint_id,
        event=event.to_wire(),
    )


def invitation_of(event: Any) -> EndpointInvitation | None:
    """The invitation an event carries, or None when it is not one (or is malformed). Only a
    client event counts: the platform marks those with `sentBy`, so the sender is known."""
    if not isinstance(event, ClientEvent) or event.type != INVITATION_TYPE:
        return None
    try:
        return EndpointInvitation.model_validate(event.model_dump(by_alias=True))
    except ValidationError:
        return None
