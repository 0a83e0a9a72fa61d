"""Shapes several domains of the contract share."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, Field, GetJsonSchemaHandler, TypeAdapter, ValidationError
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

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


class _EventBodySchema:
    """The JSON Schema of an `EventBody`: a `...Event` type that is not one of the platform's
    own (the platform refuses those from clients) and an ISO instant. Built when a document
    asks for it, so the platform's event types are read from `events` without an import
    cycle."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        from agent.api.models.events import EVENT_TYPES

        return {
            "type": "object",
            "properties": {
                "type": {
                    "type": "string",
                    "pattern": _EVENT_TYPE.pattern,
                    "not": {"enum": sorted(EVENT_TYPES)},
                },
                "timestamp": {"type": "string", "format": "date-time"},
            },
            "required": ["type", "timestamp"],
        }


EventBody = Annotated[dict[str, Any], AfterValidator(check_event_body), _EventBodySchema()]
"""An event a caller asks the platform to deliver (sendEvent); its fields are kept as sent."""
