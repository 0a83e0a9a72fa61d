"""Shapes several domains of the contract share."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, Field, TypeAdapter, ValidationError

from agent.api.models.base import WireDatetime, WireModel

__all__ = [
    "ErrorResponse",
    "EventBody",
    "SessionType",
    "SignedDownloadQuery",
    "SignedPlayerQuery",
    "SignedUrl",
    "UserRole",
    "check_event_body",
]


class SessionType(StrEnum):
    """What a snapshot, camera request or rating belongs to."""

    UNKNOWN = "UNKNOWN"
    CALL = "CALL"
    CONFERENCE = "CONFERENCE"


class UserRole(StrEnum):
    """Roles a token carries; ratings name the main one (`userRole`)."""

    AGENT = "AGENT"
    SUPERVISOR = "SUPERVISOR"
    CUSTOMER = "CUSTOMER"
    SERVICE = "SERVICE"


class SignedDownloadQuery(WireModel):
    """Query of the token-free `GET /{snapshots|filetransfers|assets}/signed/{id}/{expiration}`."""

    signature: str


class SignedPlayerQuery(WireModel):
    """Query of the Recorder and Composition APIs' token-free file routes (C5/C6, R2): `Date`
    (signed at) and `Expires` in epoch seconds, and the `Signature` over the path and both."""

    date: str = Field(alias="Date")
    expires: str = Field(alias="Expires")
    signature: str = Field(alias="Signature")


class SignedUrl(WireModel):
    """A time-limited download link (snapshots, file transfers, assets)."""

    url: str | None = None
    valid_until: WireDatetime | None = None


class ErrorResponse(WireModel):
    """The 400 body: the contract gives a string-to-string map; these are its keys."""

    error: str | None = None
    message: str | None = None


_EVENT_TYPE = re.compile(r"^[A-Z][A-Za-z0-9]*Event$")
_INSTANT: TypeAdapter[WireDatetime] = TypeAdapter(WireDatetime)


def check_event_body(event: dict[str, Any]) -> dict[str, Any]:
    """The contract's rule for caller-supplied events: a `...Event` type and an ISO instant."""
    kind = event.get("type")
    if not isinstance(kind, str) or not _EVENT_TYPE.match(kind):
        raise ValueError("event.type must be a CamelCase name ending in 'Event'")
    stamp = event.get("timestamp")
    if not isinstance(stamp, str):
        raise ValueError("event.timestamp must be an ISO-8601 instant string")
    try:
        _INSTANT.validate_python(stamp)
    except ValidationError:
        raise ValueError("event.timestamp must be an ISO-8601 instant string") from None
    return event


EventBody = Annotated[dict[str, Any], AfterValidator(check_event_body)]
"""An event a caller asks the platform to deliver (sendEvent); its fields are kept as sent."""
