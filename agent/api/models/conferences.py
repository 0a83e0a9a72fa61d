"""Conferences (`/conferences/...`): lifecycle, streams, trickle ICE, metadata, views."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Self

from pydantic import ConfigDict, Field, model_validator

from agent.api.models.base import INT64_MAX, CallerId, OpenEnum, WireDatetime, WireModel
from agent.api.models.common import EventBody

__all__ = [
    "ActiveConferencesQuery",
    "Conference",
    "ConferenceEventsQuery",
    "ConferenceMode",
    "ConferenceParticipant",
    "ConferencePublishResult",
    "ConferencePublishStreamIceCandidatesWebCommand",
    "ConferencePublishStreamWebCommand",
    "ConferenceSimpleView",
    "ConferenceSimpleViewParticipant",
    "ConferenceSimpleViewParticipantEndpoint",
    "ConferenceSimpleViewParticipantEndpointStream",
    "ConferenceStopViewStreamWebCommand",
    "ConferenceStream",
    "ConferenceStreamType",
    "ConferenceStreamViewResult",
    "ConferenceSummary",
    "ConferenceUnpublishStreamWebCommand",
    "ConferenceUpdatePublishedStreamBitrateWebCommand",
    "ConferenceViewStreamIceCandidatesWebCommand",
    "ConferenceViewStreamWebCommand",
    "CreateConferenceWebCommand",
    "EndConferenceWebCommand",
    "EventQos",
    "IceCandidate",
    "JoinConferenceWebCommand",
    "LeaveConferenceWebCommand",
    "Metadata",
    "MetadataOperation",
    "ParticipantState",
    "SendEventResponse",
    "SendEventToConferenceWebCommand",
    "SetInteractionIdWebCommand",
    "UpdateConferenceMetadataWebCommand",
    "UpdateConferenceParticipantMetadataWebCommand",
    "UpdateConferenceStreamMetadataWebCommand",
]


class ConferenceMode(StrEnum):
    """ROUTER is the only mode the platform supports today."""

    P2P = "P2P"
    ROUTER = "ROUTER"
    UNKNOWN = "UNKNOWN"


class ConferenceStreamType(StrEnum):
    MIC = "MIC"
    CAM = "CAM"
    SCREEN = "SCREEN"
    MIC_AND_CAM = "MIC_AND_CAM"
    UNKNOWN = "UNKNOWN"


class MetadataOperation(StrEnum):
    SET = "SET"
    REMOVE = "REMOVE"
    UNKNOWN = "UNKNOWN"


class ParticipantState(StrEnum):
    HEALTHY = "HEALTHY"
    SICK = "SICK"
    UNKNOWN = "UNKNOWN"


class EventQos(StrEnum):
    BEST_EFFORT = "BEST_EFFORT"
    AT_LEAST_ONCE = "AT_LEAST_ONCE"


# --- requests ------------------------------------------------------------------------


class CreateConferenceWebCommand(WireModel):
    """`POST /conferences/create`; answers `ConferenceSummary`."""

    conference_id: CallerId | None = None
    mode: ConferenceMode | None = None
    organization_id: str | None = None
    creator_endpoint: str | None = None
    interaction_id: str | None = None
    metadata: dict[str, str] | None = None


class JoinConferenceWebCommand(WireModel):
    """`POST /conferences/join`; answers `ConferenceSummary` (422 if already joined)."""

    conference_id: str
    user_endpoint_id: str
    metadata: dict[str, Any] | None = None


class LeaveConferenceWebCommand(WireModel):
    """`POST /conferences/leave` (204)."""

    conference_id: str
    user_endpoint_id: str
    reason: str | None = None


class EndConferenceWebCommand(WireModel):
    """`POST /conferences/end` (204)."""

    conference_id: str
    user_endpoint_id: str
    reason: str | None = None


class SetInteractionIdWebCommand(WireModel):
    """`POST /conferences/interaction` (204): links a conference to an interaction."""

    conference_id: str
    interaction_id: str
    user_endpoint_id: str | None = None


class ConferencePublishStreamWebCommand(WireModel):
    """`POST /conferences/publishStream`; the client may choose `stream_id`.

    The seed marks `sdpOffer` optional in the table but "Mandatory" in its description;
    the table is followed so a server can answer a missing offer with its own message."""

    conference_id: str
    user_endpoint_id: str
    stream_id: CallerId | None = None
    conference_stream_type: ConferenceStreamType
    sdp_offer: str | None = None
    metadata: dict[str, Any] | None = None
    video_bitrate: int | None = Field(default=None, ge=0, le=INT64_MAX)


class ConferencePublishResult(WireModel):
    stream_id: str | None = None
    sdp_answer: str | None = None


class ConferenceViewStreamWebCommand(WireModel):
    """`POST /conferences/viewStream`; the client may choose `viewer_id`."""

    conference_id: str
    user_endpoint_id: str
    stream_id: str
    sdp_offer: str
    viewer_id: CallerId | None = None
    metadata: dict[str, str] | None = None


class ConferenceStreamViewResult(WireModel):
    viewer_id: str | None = None
    sdp_answer: str | None = None


class ConferenceUnpublishStreamWebCommand(WireModel):
    """`POST /conferences/unpublishStream` (204)."""

    conference_id: str
    user_endpoint_id: str
    stream_id: str


class ConferenceStopViewStreamWebCommand(WireModel):
    """`POST /conferences/stopViewStream` (204; 404 when the stream is already gone)."""

    conference_id: str
    user_endpoint_id: str
    stream_id: str
    viewer_id: str


class IceCandidate(WireModel):
    """One trickled candidate, as the browser's RTCIceCandidate.toJSON() gives it."""

    candidate: str | None = None
    sdp_mid: str | None = None
    sdp_m_line_index: int | None = Field(default=None, alias="sdpMLineIndex", ge=0)


class ConferencePublishStreamIceCandidatesWebCommand(WireModel):
    """`POST /conferences/addPublishStreamIceCandidates` (204), after publishStream."""

    conference_id: str
    user_endpoint_id: str
    stream_id: str
    ice_candidates: list[IceCandidate]


class ConferenceViewStreamIceCandidatesWebCommand(WireModel):
    """`POST /conferences/addViewStreamIceCandidates` (204), after viewStream."""

    conference_id: str
    user_endpoint_id: str
    stream_id: str
    viewer_id: str
    ice_candidates: list[IceCandidate]


class UpdateConferenceMetadataWebCommand(WireModel):
    """`POST /conferences/updateMetadata` (204): mute flags, recorder state, ..."""

    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"operation": {"const": "SET"}}},
            "then": {"required": ["value"], "properties": {"value": {"type": "string"}}},
        }
    )

    conference_id: str
    user_endpoint_id: str
    operation: MetadataOperation
    key: str = Field(min_length=1)
    value: str | None = None

    @model_validator(mode="after")
    def _value_for_set(self) -> Self:
        if self.operation is MetadataOperation.SET and self.value is None:
            raise ValueError("value is required when operation is SET")
        return self


class UpdateConferenceStreamMetadataWebCommand(WireModel):
    """`POST /conferences/updateStreamMetadata` (204)."""

    conference_id: str
    user_endpoint_id: str
    stream_id: str
    new_metadata: dict[str, Any] | None = None


class UpdateConferenceParticipantMetadataWebCommand(WireModel):
    """`POST /conferences/updateParticipantMetadata` (204)."""

    conference_id: str
    user_endpoint_id: str
    new_metadata: dict[str, Any]


class ConferenceUpdatePublishedStreamBitrateWebCommand(WireModel):
    """`POST /conferences/updatePublishedStreamBitrate` (204, 404 for an unknown stream)."""

    conference_id: str
    user_endpoint_id: str
    stream_id: str | None = None
    video_bitrate: int = Field(ge=0, le=INT64_MAX)


class SendEventToConferenceWebCommand(WireModel):
    """`POST /conferences/sendEvent`, SERVICE callers only; answers `SendEventResponse`."""

    conference_id: str
    qos: EventQos
    event: EventBody
    masks: list[str] | None = None


class SendEventResponse(WireModel):
    events_sent: int | None = None


class ConferenceEventsQuery(WireModel):
    """Query of `GET /conferences/{id}/events`: the events since conference version `v`."""

    v: int = Field(ge=0, le=INT64_MAX)


class ActiveConferencesQuery(WireModel):
    """Query of `GET /conferences/active`; SERVICE callers name the organization."""

    organization_id: str | None = None


# --- responses -----------------------------------------------------------------------


class ConferenceSummary(WireModel):
    """Answer of create and join; `version` seeds the client's event ordering."""

    id: str | None = None
    version: int | None = None
    mode: OpenEnum[ConferenceMode] | None = None


class Metadata(WireModel):
    """One conference metadata entry, with who set it and when."""

    value: str | None = None
    user_id: str | None = None
    user_endpoint_id: str | None = None
    last_modified: WireDatetime | None = None


class ConferenceStream(WireModel):
    id: str | None = None
    type: OpenEnum[ConferenceStreamType] | None = None
    metadata: dict[str, Any] | None = None
    video_bitrate: int | None = None


class ConferenceParticipant(WireModel):
    """One user endpoint in the conference aggregate (`id` is the endpoint id)."""

    id: str | None = None
    user_id: str | None = None
    state: OpenEnum[ParticipantState] | None = None
    streams: list[ConferenceStream] | None = None
    metadata: dict[str, Any] | None = None


class Conference(WireModel):
    """`GET /conferences/{id}`; `GET /conferences/active` answers a list of these."""

    id: str | None = None
    mode: OpenEnum[ConferenceMode] | None = None
    organization_id: str | None = None
    interaction_id: str | None = None
    creator: str | None = None
    creator_endpoint: str | None = None
    participants: list[ConferenceParticipant] | None = None
    metadata: dict[str, Metadata] | None = None
    version: int | None = None
    empty: bool | None = None


class ConferenceSimpleViewParticipantEndpointStream(WireModel):
    id: str | None = None
    type: OpenEnum[ConferenceStreamType] | None = None
    metadata: dict[str, Any] | None = None


class ConferenceSimpleViewParticipantEndpoint(WireModel):
    id: str | None = None
    state: OpenEnum[ParticipantState] | None = None
    streams: list[ConferenceSimpleViewParticipantEndpointStream] | None = None
    metadata: dict[str, Any] | None = None


class ConferenceSimpleViewParticipant(WireModel):
    """A user (`id` is the user id) with the endpoints it joined from."""

    id: str | None = None
    endpoints: list[ConferenceSimpleViewParticipantEndpoint] | None = None


class ConferenceSimpleView(WireModel):
    """`GET /conferences/{id}/simpleView`: what a joining client reads to catch up."""

    id: str | None = None
    mode: OpenEnum[ConferenceMode] | None = None
    metadata: dict[str, Metadata] | None = None
    participants: list[ConferenceSimpleViewParticipant] | None = None
    version: int | None = None
