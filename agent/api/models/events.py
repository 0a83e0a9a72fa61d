"""Events delivered on the MQTT topic of a user endpoint, and by the events long-poll.

The seed documents list no event shapes; these follow PROTOCOL.md (read from the
platform's iOS SDK). Every unknown field is kept, and an unknown `type` becomes a
`GenericEvent` rather than an error, so a newer server never breaks a client."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Literal

from pydantic import ValidationError

from agent.api.models.base import OpenEnum, WireDatetime, WireModel
from agent.api.models.conferences import ConferenceStreamType, MetadataOperation
from agent.api.models.snapshots import CameraRequestType

__all__ = [
    "EVENT_TYPES",
    "SENT_BY",
    "ClientEvent",
    "ConferenceEndedEvent",
    "ConferenceEvent",
    "ConferenceJoinedEvent",
    "ConferenceLeftEvent",
    "ConferenceMetadataUpdatedEvent",
    "ConferenceNetworkIndicatorUpdatedEvent",
    "ConferenceParticipantMetadataUpdatedEvent",
    "ConferenceStreamMetadataUpdatedEvent",
    "ConferenceStreamPublishedEvent",
    "ConferenceStreamUnpublishedEvent",
    "Event",
    "FileTransferEvent",
    "GenericEvent",
    "NetworkGrade",
    "ParticipantNetworkIndicator",
    "SnapshotAcquiredEvent",
    "SnapshotApprovedEvent",
    "SnapshotCameraRequestProcessedEvent",
    "SnapshotCameraRequestedEvent",
    "SnapshotDiscardedEvent",
    "SnapshotEvent",
    "SnapshotRequestedEvent",
    "UserEndpointKeepAliveReminderEvent",
    "parse_event",
    "parse_events",
]


class Event(WireModel):
    """What every event carries; `user_endpoint_id` is the endpoint that caused it."""

    id: str | None = None
    type: str
    timestamp: WireDatetime | None = None
    user_id: str | None = None
    user_endpoint_id: str | None = None


class GenericEvent(Event):
    """An event of a type this code does not know; all of its fields are kept."""


SENT_BY = "sentBy"
"""The field the platform adds to every event a client sends (`sendEvent`): who sent it. The
platform's own events never carry it, so a receiver can tell the two apart."""


class ClientEvent(GenericEvent):
    """An event another client sent through the platform (`sendEvent`). Whatever its `type`
    says, it is not one of the platform's own: it never ends a call or moves a version."""

    sent_by: Any = None


class ConferenceEvent(Event):
    """`conference_version` orders events: lower is stale, higher means some were missed."""

    conference_id: str
    conference_version: int | None = None
    organization_id: str | None = None


class ConferenceJoinedEvent(ConferenceEvent):
    type: Literal["ConferenceJoinedEvent"] = "ConferenceJoinedEvent"


class ConferenceLeftEvent(ConferenceEvent):
    type: Literal["ConferenceLeftEvent"] = "ConferenceLeftEvent"


class ConferenceEndedEvent(ConferenceEvent):
    type: Literal["ConferenceEndedEvent"] = "ConferenceEndedEvent"
    reason: str | None = None


class ConferenceStreamPublishedEvent(ConferenceEvent):
    type: Literal["ConferenceStreamPublishedEvent"] = "ConferenceStreamPublishedEvent"
    stream_id: str
    stream_type: OpenEnum[ConferenceStreamType] | None = None


class ConferenceStreamUnpublishedEvent(ConferenceEvent):
    type: Literal["ConferenceStreamUnpublishedEvent"] = "ConferenceStreamUnpublishedEvent"
    stream_id: str
    stream_type: OpenEnum[ConferenceStreamType] | None = None


class ConferenceMetadataUpdatedEvent(ConferenceEvent):
    type: Literal["ConferenceMetadataUpdatedEvent"] = "ConferenceMetadataUpdatedEvent"
    key: str
    operation: OpenEnum[MetadataOperation] | None = None
    value: str | None = None


class ConferenceStreamMetadataUpdatedEvent(ConferenceEvent):
    type: Literal["ConferenceStreamMetadataUpdatedEvent"] = "ConferenceStreamMetadataUpdatedEvent"
    stream_id: str
    new_metadata: dict[str, Any] | None = None


class ConferenceParticipantMetadataUpdatedEvent(ConferenceEvent):
    """Type name inferred from `updateParticipantMetadata`; not seen in the SDK."""

    type: Literal["ConferenceParticipantMetadataUpdatedEvent"] = (
        "ConferenceParticipantMetadataUpdatedEvent"
    )
    new_metadata: dict[str, Any] | None = None


class NetworkGrade(StrEnum):
    OPTIMAL = "OPTIMAL"
    SUBOPTIMAL = "SUBOPTIMAL"
    BAD = "BAD"


class ParticipantNetworkIndicator(WireModel):
    average_jitter: float | None = None
    average_rtt: float | None = None
    average_network_quality: float | None = None
    grade: OpenEnum[NetworkGrade] | None = None


class ConferenceNetworkIndicatorUpdatedEvent(ConferenceEvent):
    """`participant_indicator_map` is keyed by user endpoint id."""

    type: Literal["ConferenceNetworkIndicatorUpdatedEvent"] = (
        "ConferenceNetworkIndicatorUpdatedEvent"
    )
    average_network_quality: float | None = None
    participant_indicator_map: dict[str, ParticipantNetworkIndicator] | None = None


class SnapshotEvent(Event):
    """Snapshot and camera request events: not versioned, not tied to a conference."""


class SnapshotRequestedEvent(SnapshotEvent):
    """Sent to the target, which answers with `POST /snapshots/acquire`."""

    type: Literal["SnapshotRequestedEvent"] = "SnapshotRequestedEvent"
    snapshot_id: str
    snapshot_type: str | None = None
    target_user_id: str | None = None
    target_user_endpoint_id: str | None = None


class SnapshotAcquiredEvent(SnapshotEvent):
    type: Literal["SnapshotAcquiredEvent"] = "SnapshotAcquiredEvent"
    snapshot_id: str
    snapshot_type: str | None = None
    snapshot_location: str | None = None


class SnapshotApprovedEvent(SnapshotEvent):
    type: Literal["SnapshotApprovedEvent"] = "SnapshotApprovedEvent"
    snapshot_id: str
    snapshot_type: str | None = None
    snapshot_location: str | None = None


class SnapshotDiscardedEvent(SnapshotEvent):
    """Type name inferred from `/snapshots/discard`; not seen in the SDK."""

    type: Literal["SnapshotDiscardedEvent"] = "SnapshotDiscardedEvent"
    snapshot_id: str


class SnapshotCameraRequestedEvent(SnapshotEvent):
    """Sent to the target, which answers with `POST /snapshots/cameraRequestRespond`."""

    type: Literal["SnapshotCameraRequestedEvent"] = "SnapshotCameraRequestedEvent"
    snapshot_camera_request_id: str
    camera_request_type: OpenEnum[CameraRequestType] | None = None
    target_user_id: str | None = None
    target_user_endpoint_id: str | None = None


class SnapshotCameraRequestProcessedEvent(SnapshotEvent):
    type: Literal["SnapshotCameraRequestProcessedEvent"] = "SnapshotCameraRequestProcessedEvent"
    snapshot_camera_request_id: str
    succeeded: bool | None = None
    additional_information: str | None = None


class FileTransferEvent(Event):
    """Sent to the target of `POST /filetransfers`. The seed names the event but not its
    fields: these mirror the transfer's form fields and stored record."""

    type: Literal["FileTransferEvent"] = "FileTransferEvent"
    file_transfer_id: str
    application_id: str | None = None
    organization_id: str | None = None
    interaction_id: str | None = None
    conference_id: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    filename: str | None = None
    content_type: str | None = None
    size: int | None = None


class UserEndpointKeepAliveReminderEvent(Event):
    """Reminds an endpoint registered with `serverKeepAliveReminderOn` to send a keepalive.

    The platform's name for this type is not documented; this one is ours."""

    type: Literal["UserEndpointKeepAliveReminderEvent"] = "UserEndpointKeepAliveReminderEvent"
    keep_alive_seconds: int | None = None


_KNOWN: tuple[type[Event], ...] = (
    ConferenceJoinedEvent,
    ConferenceLeftEvent,
    ConferenceEndedEvent,
    ConferenceStreamPublishedEvent,
    ConferenceStreamUnpublishedEvent,
    ConferenceMetadataUpdatedEvent,
    ConferenceStreamMetadataUpdatedEvent,
    ConferenceParticipantMetadataUpdatedEvent,
    ConferenceNetworkIndicatorUpdatedEvent,
    SnapshotRequestedEvent,
    SnapshotAcquiredEvent,
    SnapshotApprovedEvent,
    SnapshotDiscardedEvent,
    SnapshotCameraRequestedEvent,
    SnapshotCameraRequestProcessedEvent,
    FileTransferEvent,
    UserEndpointKeepAliveReminderEvent,
)

EVENT_TYPES: Mapping[str, type[Event]] = {
    str(cls.model_fields["type"].default): cls for cls in _KNOWN
}
"""Every known event class by its wire `type`."""


def parse_event(payload: Mapping[str, Any]) -> Event:
    """The typed event for `payload["type"]`, or a `GenericEvent` for a type not known here.

    Raises `ValueError` only when there is no string `type`, and `pydantic.ValidationError`
    (a `ValueError`) when a known type lacks a field it needs or has a malformed one."""
    if not isinstance(payload, Mapping):
        raise ValueError("event payload must be a JSON object")
    kind = payload.get("type")
    if not isinstance(kind, str):
        raise ValueError("event payload has no string 'type' field")
    if SENT_BY in payload:
        return _generic(payload, ClientEvent)
    known = EVENT_TYPES.get(kind)
    if known is not None:
        return known.model_validate(payload)
    return _generic(payload)


def _generic(payload: Mapping[str, Any], kind: type[GenericEvent] = GenericEvent) -> GenericEvent:
    """Never fails: a common field that does not validate is kept raw among the extras,
    so the event still reaches its handler and still serialises as it arrived."""
    try:
        return kind.model_validate(payload)
    except ValidationError as exc:
        bad = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
    event = kind.model_validate({k: v for k, v in payload.items() if k not in bad})
    assert event.__pydantic_extra__ is not None  # extra="allow" always sets it
    event.__pydantic_extra__.update({k: payload[k] for k in bad if k in payload})
    return event


def parse_events(payload: Any) -> list[Event]:
    """`GET /conferences/{id}/events?v=N` answers a bare list of events."""
    if not isinstance(payload, list):
        raise ValueError("expected a JSON array of events")
    return [parse_event(item) for item in payload]
