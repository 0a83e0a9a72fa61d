"""The wire models: names, casing and rules that client and server both rely on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

import agent.api.models as models
from agent.api.models import (
    EVENT_TYPES,
    AssetUploadForm,
    CameraRequestType,
    Conference,
    ConferenceEndedEvent,
    ConferenceEvent,
    ConferenceMetadataUpdatedEvent,
    ConferenceMode,
    ConferenceNetworkIndicatorUpdatedEvent,
    ConferencePublishStreamIceCandidatesWebCommand,
    ConferencePublishStreamWebCommand,
    ConferenceSimpleView,
    ConferenceStreamType,
    ConferenceSummary,
    CreateRatingWebCommand,
    FeedbackType,
    FileTransferEvent,
    FileTransferFilter,
    FileTransferForm,
    GenericEvent,
    IceCandidate,
    IceServersResult,
    IceServersResultV2,
    InteractionQuery,
    JoinConferenceWebCommand,
    MetadataOperation,
    NetworkGrade,
    PageInteraction,
    Rating,
    RegisterUserEndpointWebCommand,
    SendEventToConferenceWebCommand,
    SendEventToUserWebCommand,
    SessionType,
    SnapshotAcquireForm,
    SnapshotCameraRequestedEvent,
    SnapshotCameraRequestWebCommand,
    SnapshotEvent,
    TalkdeskContactActivityRequest,
    TalkdeskCreateTalkdeskResponse,
    TicketRequest,
    TicketType,
    TokenRequestForm,
    TokenResponse,
    UpdateConferenceMetadataWebCommand,
    UserRole,
    WireModel,
    format_timestamp,
    parse_event,
    parse_events,
    parse_list,
)

# Every schema of seed 002 (plus seed 000's FeedbackItem) must exist under its own name.
SEED_SCHEMAS = [
    "UpdateInteractionWebCommand",
    "RegisterUserEndpointWebCommand",
    "UnregisterUserEndpointWebCommand",
    "SendEventToUserWebCommand",
    "RegisterResult",
    "KeepUserEndpointAliveWebCommand",
    "RequestData",
    "TalkdeskCreateTalkdeskRequest",
    "TalkdeskCreateTalkdeskResponse",
    "Meta",
    "TalkdeskContactActivityRequest",
    "TalkdeskContactActivityResponseItem",
    "SnapshotUploadResult",
    "CreateSnapshotSignedURLWebCommand",
    "SignedUrl",
    "SnapshotRequestWebCommand",
    "SnapshotRequestResult",
    "SnapshotDiscardWebCommand",
    "SnapshotCameraRequestWebCommand",
    "SnapshotCameraRequestRespondWebCommand",
    "SnapshotApproveWebCommand",
    "CreateRatingWebCommand",
    "CreatingRatingWebResponse",
    "CreateInteractionWebCommand",
    "CreateInteractionResponse",
    "FileTransferResult",
    "ConferenceViewStreamWebCommand",
    "ConferenceStreamViewResult",
    "UpdateConferenceStreamMetadataWebCommand",
    "ConferenceUpdatePublishedStreamBitrateWebCommand",
    "UpdateConferenceParticipantMetadataWebCommand",
    "UpdateConferenceMetadataWebCommand",
    "ConferenceUnpublishStreamWebCommand",
    "ConferenceStopViewStreamWebCommand",
    "SendEventToConferenceWebCommand",
    "SendEventResponse",
    "ConferencePublishStreamWebCommand",
    "ConferencePublishResult",
    "LeaveConferenceWebCommand",
    "JoinConferenceWebCommand",
    "AnotherErrorResponse",
    "ConferenceSummary",
    "SetInteractionIdWebCommand",
    "EndConferenceWebCommand",
    "CreateConferenceWebCommand",
    "ConferenceViewStreamIceCandidatesWebCommand",
    "IceCandidate",
    "ConferencePublishStreamIceCandidatesWebCommand",
    "Snapshot",
    "SnapshotApprovalProcessingResult",
    "Rating",
    "Interaction",
    "PageInteraction",
    "PageableObject",
    "SortObject",
    "IceServer",
    "IceServersResult",
    "IceServersResultV2",
    "Conference",
    "ConferenceParticipant",
    "ConferenceStream",
    "Metadata",
    "ConferenceSimpleView",
    "ConferenceSimpleViewParticipant",
    "ConferenceSimpleViewParticipantEndpoint",
    "ConferenceSimpleViewParticipantEndpointStream",
    "ConferenceEvent",
    "FeedbackItem",
]


@pytest.mark.parametrize("name", SEED_SCHEMAS)
def test_every_seed_schema_is_a_wire_model(name: str) -> None:
    assert name in models.__all__
    assert issubclass(getattr(models, name), WireModel)


def test_all_exports_resolve() -> None:
    missing = [name for name in models.__all__ if not hasattr(models, name)]
    assert missing == []


# --- casing and round trips ---------------------------------------------------------


def test_conference_publish_round_trip_camel_case() -> None:
    wire = {
        "conferenceId": "conf-1",
        "userEndpointId": "ep-1",
        "streamId": "s-1",
        "conferenceStreamType": "MIC_AND_CAM",
        "sdpOffer": "v=0\r\n",
        "metadata": {"name": "bot"},
        "videoBitrate": 300000,
    }
    cmd = ConferencePublishStreamWebCommand.model_validate(wire)
    assert cmd.conference_id == "conf-1"
    assert cmd.conference_stream_type is ConferenceStreamType.MIC_AND_CAM
    assert cmd.video_bitrate == 300000
    assert cmd.to_wire() == wire


def test_python_names_build_camel_case_wire() -> None:
    cmd = ConferencePublishStreamIceCandidatesWebCommand(
        conference_id="c",
        user_endpoint_id="e",
        stream_id="s",
        ice_candidates=[IceCandidate(candidate="candidate:1", sdp_mid="0", sdp_m_line_index=0)],
    )
    assert cmd.to_wire() == {
        "conferenceId": "c",
        "userEndpointId": "e",
        "streamId": "s",
        "iceCandidates": [{"candidate": "candidate:1", "sdpMid": "0", "sdpMLineIndex": 0}],
    }


def test_to_wire_leaves_out_unset_optionals() -> None:
    cmd = RegisterUserEndpointWebCommand(keep_alive_seconds=30)
    assert cmd.to_wire() == {"keepAliveSeconds": 30}


def test_simple_view_nested_round_trip() -> None:
    wire = {
        "id": "conf-1",
        "mode": "ROUTER",
        "metadata": {
            "RECORDER": {
                "value": '{"on":true}',
                "userId": "u1",
                "userEndpointId": "e1",
                "lastModified": "2024-05-06T07:08:09.010Z",
            }
        },
        "participants": [
            {
                "id": "u1",
                "endpoints": [
                    {
                        "id": "e1",
                        "state": "HEALTHY",
                        "streams": [{"id": "s1", "type": "CAM", "metadata": {"k": {"a": 1}}}],
                        "metadata": {},
                    }
                ],
            }
        ],
        "version": 7,
    }
    view = ConferenceSimpleView.model_validate(wire)
    assert view.mode is ConferenceMode.ROUTER
    assert view.metadata is not None
    assert view.metadata["RECORDER"].last_modified == datetime(2024, 5, 6, 7, 8, 9, 10000, UTC)
    assert view.participants is not None
    endpoint = view.participants[0].endpoints[0]  # type: ignore[index]
    assert endpoint.streams is not None
    assert endpoint.streams[0].type is ConferenceStreamType.CAM
    assert view.to_wire() == wire


def test_snapshot_form_fields_round_trip() -> None:
    wire = {
        "snapshotId": "sn-1",
        "userEndpointId": "e1",
        "snapshotType": "id-card",
        "snapshotSuffix": "jpg",
        "snapshotMimeType": "image/jpeg",
    }
    assert SnapshotAcquireForm.model_validate(wire).to_wire() == wire


def test_ratings_feedback_and_user_role_of_seed_000() -> None:
    wire = {
        "id": "r1",
        "userRole": "CUSTOMER",
        "sessionType": "CONFERENCE",
        "sessionId": "c1",
        "score": 4,
        "feedback": [
            {"question": "Pick", "type": "MULTIPLE_CHOICE", "choices": ["a", "b"]},
            {"question": "Rate", "type": "RATING_1_10", "rating": 9},
        ],
        "createdAt": "2024-01-01T00:00:00.000Z",
    }
    rating = Rating.model_validate(wire)
    assert rating.user_role is UserRole.CUSTOMER
    assert rating.session_type is SessionType.CONFERENCE
    assert rating.feedback is not None
    assert rating.feedback[1].type is FeedbackType.RATING_1_10
    assert rating.to_wire() == wire
    assert parse_list(Rating, [wire])[0] == rating


def test_interactions_page_of_seed_001() -> None:
    wire = {
        "totalPages": 1,
        "totalElements": 1,
        "size": 20,
        "content": [{"id": "i1", "createdAt": "2025-01-20T22:00:00.928Z", "data": {"k": 1}}],
        "number": 0,
        "sort": {"empty": True, "sorted": False, "unsorted": True},
        "pageable": {"offset": 0, "pageSize": 20, "pageNumber": 0, "paged": True},
        "first": True,
        "last": True,
        "empty": False,
    }
    page = PageInteraction.model_validate(wire)
    assert page.content is not None
    assert page.content[0].created_at == datetime(2025, 1, 20, 22, 0, 0, 928000, UTC)
    assert page.pageable is not None
    assert page.pageable.page_size == 20
    assert page.to_wire() == wire


def test_interaction_query_builds_camel_case_parameters() -> None:
    query = InteractionQuery.model_validate(
        {"start": "2025-01-20T22:00:00.928Z", "end": "2025-01-21T21:59:59Z", "userId": "u1"}
    )
    query.on_hold_duration_gt = 500
    assert query.to_wire() == {
        "start": "2025-01-20T22:00:00.928Z",
        "end": "2025-01-21T21:59:59.000Z",
        "userId": "u1",
        "onHoldDurationGt": 500,
    }
    # A reversed range is a range that holds nothing, not malformed input (JSON Schema could
    # not state the order, so the document would promise what the server refused).
    InteractionQuery.model_validate(
        {"start": "2025-01-21T00:00:00Z", "end": "2025-01-20T00:00:00Z"}
    )


def test_file_transfer_and_asset_forms() -> None:
    form = FileTransferForm.model_validate({"applicationId": "a", "targetId": "u2"})
    assert form.to_wire() == {"applicationId": "a", "targetId": "u2"}
    with pytest.raises(ValidationError, match="mutually exclusive"):
        FileTransferFilter(interaction_id="i", conference_id="c")
    asset = AssetUploadForm.model_validate(
        {"applicationId": "a", "category": "logo", "rolesAllowedAccess": "admin, customer"}
    )
    assert asset.roles == ["admin", "customer"]


def test_ice_servers_both_shapes() -> None:
    old = IceServersResult.model_validate(
        {"iceServers": [{"urls": ["turn:h:3478"], "username": "u", "credential": "c"}], "ttl": 60}
    )
    assert old.ice_servers is not None
    assert old.ice_servers[0].urls == ["turn:h:3478"]
    v2 = IceServersResultV2.model_validate(
        {"stun": "stun:h:3478", "turn": "turn:h:3478", "turnUsername": "u", "turnPassword": "p"}
    )
    servers = v2.to_ice_servers()
    assert [s.urls for s in servers] == [["stun:h:3478"], ["turn:h:3478"]]
    assert (servers[1].username, servers[1].credential) == ("u", "p")


def test_oauth_token_response_stays_snake_case() -> None:
    wire = {
        "access_token": "a.b.c",
        "refresh_token": "r.r.r",
        "expires_in": 300,
        "scope": "rtc",
        "jti": "j1",
        "organization": "org-1",
        "sub": "user-1",
        "conference_id": "conf-1",
    }
    token = TokenResponse.model_validate(wire)
    assert token.conference_id == "conf-1"
    assert token.to_wire() == wire
    failure = TokenResponse.model_validate({"error": "invalid_grant", "error_description": "x"})
    assert failure.access_token is None
    assert failure.to_wire() == {"error": "invalid_grant", "error_description": "x"}


def test_token_request_form_rules() -> None:
    form = TokenRequestForm.model_validate(
        {"grant_type": "client_credentials", "client_id": "bot", "client_secret": "s"}
    )
    assert form.to_wire()["grant_type"] == "client_credentials"
    with pytest.raises(ValidationError, match="needs refresh_token"):
        TokenRequestForm.model_validate({"grant_type": "refresh_token"})
    with pytest.raises(ValidationError, match="grant_type"):
        TokenRequestForm.model_validate({"grant_type": "implicit"})


def test_ticket_properties_keep_their_mixed_casing() -> None:
    wire = {
        "type": "MULTI_USE_TICKET",
        "ttl": 3600,
        "length": 8,
        "properties": {"applicationId": "app", "conference_id": "c1", "customer_id": "cu"},
    }
    ticket = TicketRequest.model_validate(wire)
    assert ticket.type is TicketType.MULTI_USE_TICKET
    assert ticket.properties is not None
    assert ticket.properties.application_id == "app"
    assert ticket.to_wire() == wire


def test_talkdesk_keeps_snake_case() -> None:
    wire = {"meta": {"interaction_types": ["video"]}, "data": {"contact_id": "c1"}}
    request = TalkdeskContactActivityRequest.model_validate(wire)
    assert request.data is not None
    assert request.data.contact_id == "c1"
    assert request.to_wire() == wire
    response = TalkdeskCreateTalkdeskResponse(message="ok", contact_external_id="x")
    assert response.to_wire() == {"message": "ok", "contact_external_id": "x"}


# --- unknown fields, unknown enum values -----------------------------------------------


def test_extra_fields_are_kept_at_every_level() -> None:
    wire = {
        "id": "c1",
        "futureField": {"a": 1},
        "participants": [{"id": "e1", "streams": [{"id": "s1", "codec": "VP8"}], "zone": "eu"}],
    }
    conference = Conference.model_validate(wire)
    assert conference.model_extra == {"futureField": {"a": 1}}
    assert conference.to_wire() == wire


def test_unknown_enum_values_in_responses_pass_through() -> None:
    summary = ConferenceSummary.model_validate({"id": "c", "version": 1, "mode": "SFU"})
    assert summary.mode == "SFU"
    assert summary.to_wire()["mode"] == "SFU"
    known = ConferenceSummary.model_validate({"id": "c", "mode": "ROUTER"})
    assert known.mode is ConferenceMode.ROUTER


def test_camera_request_type_accepts_what_suits_the_caller() -> None:
    base = {"userEndpointId": "e", "targetUserId": "u", "targetUserEndpointId": "t"}
    zoom = SnapshotCameraRequestWebCommand.model_validate({**base, "cameraRequestType": "ZOOM"})
    assert zoom.camera_request_type == "ZOOM"
    flash = SnapshotCameraRequestWebCommand.model_validate(
        {**base, "cameraRequestType": "FLASH_ON"}
    )
    assert flash.camera_request_type is CameraRequestType.FLASH_ON


def test_request_enums_are_strict() -> None:
    with pytest.raises(ValidationError, match="conferenceStreamType"):
        ConferencePublishStreamWebCommand.model_validate(
            {"conferenceId": "c", "userEndpointId": "e", "conferenceStreamType": "HOLOGRAM"}
        )


# --- required fields and rules ------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "wire", "missing"),
    [
        (JoinConferenceWebCommand, {"conferenceId": "c"}, "userEndpointId"),
        (RegisterUserEndpointWebCommand, {"userEndpointId": "e"}, "keepAliveSeconds"),
        (
            ConferencePublishStreamWebCommand,
            {"conferenceId": "c", "userEndpointId": "e"},
            "conferenceStreamType",
        ),
        (CreateRatingWebCommand, {"sessionType": "CALL", "rating": 3}, "sessionId"),
        (
            SnapshotAcquireForm,
            {
                "snapshotId": "s",
                "userEndpointId": "e",
                "snapshotSuffix": "jpg",
                "snapshotMimeType": "image/jpeg",
            },
            "snapshotType",
        ),
        (TicketRequest, {"ttl": 5}, "type"),
    ],
)
def test_missing_required_field_is_named(
    model: type[WireModel], wire: dict[str, Any], missing: str
) -> None:
    with pytest.raises(ValidationError) as info:
        model.model_validate(wire)
    assert [err["loc"] for err in info.value.errors() if err["type"] == "missing"] == [(missing,)]
    assert missing in str(info.value)


def test_metadata_set_needs_a_value() -> None:
    base = {"conferenceId": "c", "userEndpointId": "e", "key": "TRACK_MUTED/audio/s1"}
    with pytest.raises(ValidationError, match="value is required"):
        UpdateConferenceMetadataWebCommand.model_validate({**base, "operation": "SET"})
    remove = UpdateConferenceMetadataWebCommand.model_validate({**base, "operation": "REMOVE"})
    assert remove.operation is MetadataOperation.REMOVE


def test_rating_rules_of_seed_000() -> None:
    base = {"sessionType": "CONFERENCE", "sessionId": "c"}
    with pytest.raises(ValidationError, match="at least one of rating, feedback or comment"):
        CreateRatingWebCommand.model_validate(base)
    with pytest.raises(ValidationError, match="rating"):
        CreateRatingWebCommand.model_validate({**base, "rating": 6})
    with pytest.raises(ValidationError, match=r"1\.\.5"):
        CreateRatingWebCommand.model_validate(
            {**base, "feedback": [{"type": "RATING_1_5", "rating": 7}]}
        )
    with pytest.raises(ValidationError, match="300 characters"):
        CreateRatingWebCommand.model_validate(
            {**base, "feedback": [{"type": "TEXT_300", "answer": "x" * 301}]}
        )
    ok = CreateRatingWebCommand.model_validate({**base, "comment": "fine"})
    assert ok.to_wire() == {**base, "comment": "fine"}


def test_send_event_body_follows_the_contract() -> None:
    good = {"type": "AgentWavedEvent", "timestamp": "2011-12-03T10:15:30Z", "hand": "left"}
    cmd = SendEventToConferenceWebCommand.model_validate(
        {"conferenceId": "c", "qos": "AT_LEAST_ONCE", "event": good}
    )
    assert cmd.event == good
    with pytest.raises(ValidationError, match="ending in 'Event'"):
        SendEventToUserWebCommand.model_validate(
            {"userId": "u", "organizationId": "o", "event": {"type": "wave", **_STAMP}}
        )
    with pytest.raises(ValidationError, match="ISO-8601"):
        SendEventToUserWebCommand.model_validate(
            {"userId": "u", "organizationId": "o", "event": {"type": "WaveEvent", "timestamp": 1}}
        )


_STAMP = {"timestamp": "2011-12-03T10:15:30Z"}


# --- secrets -----------------------------------------------------------------------------


def test_secrets_stay_out_of_repr_and_errors() -> None:
    token = TokenResponse(access_token="SECRET-A", refresh_token="SECRET-R", expires_in=60)
    assert "SECRET" not in repr(token)
    assert "SECRET" not in str(token)
    with pytest.raises(ValidationError) as info:
        TokenRequestForm.model_validate(
            {"grant_type": "password", "password": "SECRET-P", "client_secret": "SECRET-C"}
        )
    assert "SECRET" not in str(info.value)
    v2 = IceServersResultV2(turn="turn:h", turn_username="u", turn_password="SECRET-T")
    assert "SECRET" not in repr(v2)
    with pytest.raises(ValidationError) as info:
        IceServersResultV2.model_validate({"turnPassword": "SECRET-T", "ttl": "soon"})
    assert "SECRET" not in str(info.value)


# --- timestamps --------------------------------------------------------------------------


def test_format_timestamp_is_the_platform_format() -> None:
    moment = datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=UTC)
    assert format_timestamp(moment) == "2024-02-29T23:59:58.123Z"
    athens = datetime(2024, 3, 1, 1, 59, 58, 123000, tzinfo=timezone(timedelta(hours=2)))
    assert format_timestamp(athens) == "2024-02-29T23:59:58.123Z"
    assert format_timestamp(datetime(2024, 1, 1)) == "2024-01-01T00:00:00.000Z"


# --- events ------------------------------------------------------------------------------

_CONFERENCE = {
    "id": "ev-1",
    "timestamp": "2024-05-06T07:08:09.010Z",
    "conferenceId": "conf-1",
    "conferenceVersion": 4,
    "userId": "u1",
    "userEndpointId": "e1",
}
_SNAPSHOT = {"id": "ev-2", "timestamp": "2024-05-06T07:08:09.010Z", "userId": "u1"}

# type -> (fields beyond the common ones, attribute to check, its expected value)
EVENT_CASES: dict[str, tuple[dict[str, Any], str, Any]] = {
    "ConferenceJoinedEvent": ({}, "conference_version", 4),
    "ConferenceLeftEvent": ({}, "user_endpoint_id", "e1"),
    "ConferenceEndedEvent": ({"reason": "agent hung up"}, "reason", "agent hung up"),
    "ConferenceStreamPublishedEvent": (
        {"streamId": "s1", "streamType": "CAM"},
        "stream_type",
        ConferenceStreamType.CAM,
    ),
    "ConferenceStreamUnpublishedEvent": (
        {"streamId": "s1", "streamType": "MIC"},
        "stream_id",
        "s1",
    ),
    "ConferenceMetadataUpdatedEvent": (
        {"key": "RECORDER", "operation": "SET", "value": '{"on":true}'},
        "operation",
        MetadataOperation.SET,
    ),
    "ConferenceStreamMetadataUpdatedEvent": (
        {"streamId": "s1", "newMetadata": {"muted": True}},
        "new_metadata",
        {"muted": True},
    ),
    "ConferenceParticipantMetadataUpdatedEvent": (
        {"newMetadata": {"name": "bot"}},
        "new_metadata",
        {"name": "bot"},
    ),
    "ConferenceNetworkIndicatorUpdatedEvent": (
        {
            "averageNetworkQuality": 0.8,
            "participantIndicatorMap": {
                "e1": {
                    "averageJitter": 3.5,
                    "averageRtt": 40,
                    "averageNetworkQuality": 0.8,
                    "grade": "SUBOPTIMAL",
                }
            },
        },
        "average_network_quality",
        0.8,
    ),
    "SnapshotRequestedEvent": (
        {"snapshotId": "sn1", "snapshotType": "doc", "targetUserId": "u2"},
        "target_user_id",
        "u2",
    ),
    "SnapshotAcquiredEvent": (
        {"snapshotId": "sn1", "snapshotType": "doc", "snapshotLocation": "s3://x"},
        "snapshot_location",
        "s3://x",
    ),
    "SnapshotApprovedEvent": ({"snapshotId": "sn1"}, "snapshot_id", "sn1"),
    "SnapshotDiscardedEvent": ({"snapshotId": "sn1"}, "snapshot_id", "sn1"),
    "SnapshotCameraRequestedEvent": (
        {"snapshotCameraRequestId": "cr1", "cameraRequestType": "FLASH_OFF"},
        "camera_request_type",
        CameraRequestType.FLASH_OFF,
    ),
    "SnapshotCameraRequestProcessedEvent": (
        {"snapshotCameraRequestId": "cr1", "succeeded": False, "additionalInformation": "no"},
        "succeeded",
        False,
    ),
    "FileTransferEvent": (
        {"fileTransferId": "ft1", "targetType": "user", "targetId": "u2", "filename": "a.pdf"},
        "file_transfer_id",
        "ft1",
    ),
    "UserEndpointKeepAliveReminderEvent": ({"keepAliveSeconds": 30}, "keep_alive_seconds", 30),
}


def test_event_cases_cover_every_known_type() -> None:
    assert set(EVENT_CASES) == set(EVENT_TYPES)


@pytest.mark.parametrize("kind", sorted(EVENT_CASES))
def test_parse_event_known_type(kind: str) -> None:
    fields, attribute, expected = EVENT_CASES[kind]
    cls = EVENT_TYPES[kind]
    common = _CONFERENCE if issubclass(cls, ConferenceEvent) else _SNAPSHOT
    payload = {"type": kind, **common, **fields, "traceId": "t-9"}
    event = parse_event(payload)
    assert type(event) is cls
    assert event.type == kind
    assert getattr(event, attribute) == expected
    assert event.timestamp == datetime(2024, 5, 6, 7, 8, 9, 10000, UTC)
    assert event.model_extra == {"traceId": "t-9"}
    assert event.to_wire() == payload


def test_snapshot_and_conference_families() -> None:
    camera = parse_event(
        {"type": "SnapshotCameraRequestedEvent", "snapshotCameraRequestId": "cr1", **_SNAPSHOT}
    )
    assert isinstance(camera, SnapshotCameraRequestedEvent)
    assert isinstance(camera, SnapshotEvent)
    indicator = parse_event(
        {
            "type": "ConferenceNetworkIndicatorUpdatedEvent",
            **_CONFERENCE,
            "participantIndicatorMap": {"e1": {"grade": "BAD"}},
        }
    )
    assert isinstance(indicator, ConferenceNetworkIndicatorUpdatedEvent)
    assert indicator.participant_indicator_map is not None
    assert indicator.participant_indicator_map["e1"].grade is NetworkGrade.BAD


def test_parse_event_unknown_type_keeps_everything() -> None:
    payload = {
        "type": "ConferenceRecordingStartedEvent",
        **_CONFERENCE,
        "recorderId": "r1",
        "nested": {"a": [1, 2]},
    }
    event = parse_event(payload)
    assert type(event) is GenericEvent
    assert event.type == "ConferenceRecordingStartedEvent"
    assert event.user_endpoint_id == "e1"
    assert event.model_extra is not None
    assert event.model_extra["conferenceId"] == "conf-1"
    assert event.model_extra["recorderId"] == "r1"
    assert event.to_wire() == payload


def test_parse_event_unknown_type_with_malformed_common_fields_never_raises() -> None:
    payload = {"type": "OddEvent", "id": 42, "timestamp": "yesterday", "userId": "u1"}
    event = parse_event(payload)
    assert type(event) is GenericEvent
    assert event.timestamp is None
    assert event.user_id == "u1"
    assert event.model_extra == {"id": 42, "timestamp": "yesterday"}
    assert event.to_wire() == payload


def test_parse_event_known_type_missing_its_key_field_is_an_error() -> None:
    with pytest.raises(ValidationError, match="streamId"):
        parse_event({"type": "ConferenceStreamPublishedEvent", **_CONFERENCE})


def test_parse_event_without_type_is_an_error() -> None:
    with pytest.raises(ValueError, match="'type'"):
        parse_event({"id": "x"})
    with pytest.raises(ValueError, match="JSON object"):
        parse_event(["ConferenceJoinedEvent"])  # type: ignore[arg-type]


def test_server_builds_events_without_repeating_the_type() -> None:
    event = ConferenceEndedEvent(
        id="ev-9",
        timestamp=datetime(2024, 1, 2, 3, 4, 5, 6000, UTC),
        conference_id="conf-1",
        conference_version=12,
        reason="timeout",
    )
    wire = event.to_wire()
    assert wire == {
        "id": "ev-9",
        "type": "ConferenceEndedEvent",
        "timestamp": "2024-01-02T03:04:05.006Z",
        "conferenceId": "conf-1",
        "conferenceVersion": 12,
        "reason": "timeout",
    }
    assert parse_event(wire) == event
    transfer = FileTransferEvent(file_transfer_id="ft1", target_id="u2")
    assert transfer.to_wire()["type"] == "FileTransferEvent"


def test_events_long_poll_page() -> None:
    events = parse_events(
        [
            {"type": "ConferenceJoinedEvent", **_CONFERENCE},
            {"type": "ConferenceMetadataUpdatedEvent", **_CONFERENCE, "key": "k", "value": "v"},
            {"type": "SomethingNewEvent", **_CONFERENCE},
        ]
    )
    assert [type(e).__name__ for e in events] == [
        "ConferenceJoinedEvent",
        "ConferenceMetadataUpdatedEvent",
        "GenericEvent",
    ]
    metadata = events[1]
    assert isinstance(metadata, ConferenceMetadataUpdatedEvent)
    assert (metadata.key, metadata.value) == ("k", "v")
    with pytest.raises(ValueError, match="JSON array"):
        parse_events({"type": "ConferenceJoinedEvent"})


def test_an_instant_beyond_utc_years_is_refused_and_the_document_states_the_shape() -> None:
    """`astimezone` raises OverflowError (not ValueError) past year 9999: it must become a
    validation error (a 400), not escape as a 500. The document's pattern (`format` alone is
    an annotation in OpenAPI 3.1) matches what the platform writes and the seed's example."""
    import re

    from pydantic import TypeAdapter

    from agent.api.models.base import DATETIME_PATTERN, WireDatetime, format_timestamp

    adapter = TypeAdapter(WireDatetime)
    with pytest.raises(ValidationError, match="outside the years"):
        adapter.validate_python("9999-12-31T23:59:59-23:59")
    assert adapter.json_schema()["pattern"] == DATETIME_PATTERN
    written = format_timestamp(datetime(2026, 12, 7, 16, 1, 2, 345000, tzinfo=UTC))
    for text in (written, "2019-08-24T14:15:22Z", "2019-08-24T14:15:22.5+02:00"):
        assert re.fullmatch(DATETIME_PATTERN, text), text
        adapter.validate_python(text)
    for text in ("2019-13-01T00:00:00Z", "2019-04-31T00:00:00Z", "²019-08-24T14:15:22Z", ""):
        assert not re.fullmatch(DATETIME_PATTERN, text), text
