"""Recorder API (`/rtc-recorder/api/...`, seed 004): recordings, chat transcripts, cobrowse.

Enums are `AnyCaseEnum`: read in any case, unknown values kept (a newer recorder may add
states), written upper-case. The seed types most instants as plain strings; they are
`WireInstant` here, written as the platform writes instants. The seed's schema `Error` is
`RecorderError` (the bare name would shadow too much).
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from agent.api.models.base import AnyCaseEnum, ResourceId, WireDatetime, WireInstant, WireModel

__all__ = [
    "AddChatTranscriptCmd",
    "AddCobrowseEventCmd",
    "ChatTranscriptData",
    "ChatTranscriptEntry",
    "CobrowseEvent",
    "CobrowseSessionDataMessage",
    "CobrowseUrlQuery",
    "ConversationCobrowseSessionDataMessage",
    "ConversationMessage",
    "ConversationRecordingData",
    "ConversationStreamData",
    "ConversationTrackData",
    "ConversationTrackStorageData",
    "LocalFileDataMessage",
    "RecorderError",
    "RecorderState",
    "RecordingDataEvent",
    "RecordingDataMessage",
    "StartRecording",
    "StorageProfileDataMessage",
    "StorageProvider",
    "StorageTestResult",
    "StorageVerificationStatusMessage",
    "StreamDataMessage",
    "StreamState",
    "StreamType",
    "TrackDataMessage",
    "TrackStorageDataMessage",
    "TrackType",
    "URLResourceMessage",
    "UploadDataMessage",
]

INT32 = 2**31
INT64 = 2**63


class RecorderState(StrEnum):
    INITIALISED = "INITIALISED"
    ACTIVE = "ACTIVE"
    STOPPED = "STOPPED"
    FAILED = "FAILED"
    ABORTED = "ABORTED"
    PENDING_RECOVERY = "PENDING_RECOVERY"

    @property
    def is_active(self) -> bool:
        """What `GET /recordings/{c}/active` answers with: not finished yet."""
        return self in _ACTIVE_STATES


_ACTIVE_STATES = frozenset(
    {RecorderState.INITIALISED, RecorderState.ACTIVE, RecorderState.PENDING_RECOVERY}
)


class StreamState(StrEnum):
    RECORDING = "RECORDING"
    STOPPED = "STOPPED"
    FAILED = "FAILED"


class StreamType(StrEnum):
    CAM = "CAM"
    HOLD = "HOLD"
    MIC = "MIC"
    SCREEN = "SCREEN"
    UNKNOWN = "UNKNOWN"
    VIDEO = "VIDEO"


class TrackType(StrEnum):
    AUDIO = "AUDIO"
    VIDEO = "VIDEO"


class StorageProvider(StrEnum):
    """The seed's `provider` values; the local platform stores on its own disk and names none."""

    AMAZON_S3 = "AMAZON_S3"
    AZURE_BLOB = "AZURE_BLOB"
    GOOGLE_CLOUD = "GOOGLE_CLOUD"
    SFTP_STORAGE = "SFTP_STORAGE"


class RecorderError(WireModel):
    """The seed's `Error`: why a recorder, stream or file failed."""

    code: str | None = None
    message: str | None = None
    occurred: WireInstant | None = None


# --- commands ------------------------------------------------------------------------------


class StartRecording(WireModel):
    """`POST /recordings/start`; `audio` and `video` default to true (the seed states none).
    The conversation and application ids name stored files' folders and later path segments,
    so they are `ResourceId`s."""

    application_id: ResourceId
    conference_id: str
    conversation_id: ResourceId
    audio: bool | None = None
    video: bool | None = None


class ChatTranscriptEntry(WireModel):
    time_stamp: WireDatetime
    transcript: str
    user_id: str
    user_display_name: str | None = None


class AddChatTranscriptCmd(WireModel):
    """`POST /recordings/chat/transcript/add`: chat lines for an existing recorder instance."""

    chat_transcript_list: list[ChatTranscriptEntry]
    conversation_id: str
    recorder_id: str
    instance_id: str


class CobrowseEvent(WireModel):
    """One DOM-replay event of a co-browsing session; `timestamp` is epoch milliseconds."""

    payload: str
    sequence_id: int = Field(ge=-INT32, lt=INT32)
    session_id: ResourceId
    timestamp: int = Field(ge=-INT64, lt=INT64)


class AddCobrowseEventCmd(WireModel):
    """`POST /recordings/cobrowse/event`: one event for an active recorder instance."""

    conversation_id: str
    recorder_id: str
    instance_id: str
    event: CobrowseEvent


# --- recorder reads ------------------------------------------------------------------------


class RecordingDataEvent(WireModel):
    """What start, state and active answer (an "event" by name only)."""

    conversation_id: str | None = None
    recorder_id: str | None = None
    instance_id: str | None = None
    state: AnyCaseEnum[RecorderState] | None = None
    error: RecorderError | None = None


class ChatTranscriptData(WireModel):
    created: WireDatetime
    id: str
    location: str


class LocalFileDataMessage(WireModel):
    """A track's file while the recorder host holds it (`deleted` once it moved to storage)."""

    location: str | None = None
    created: WireInstant | None = None
    deleted: WireInstant | None = None
    error: RecorderError | None = None


class UploadDataMessage(WireModel):
    """A track's file in storage; `size` is bytes as a decimal string."""

    location: str | None = None
    size: str | None = None
    uploaded: WireInstant | None = None
    error: RecorderError | None = None


class TrackStorageDataMessage(WireModel):
    local_storage: LocalFileDataMessage | None = None
    object_storage: UploadDataMessage | None = None


class TrackDataMessage(WireModel):
    id: str | None = None
    type: AnyCaseEnum[TrackType] | None = None
    started: WireInstant | None = None
    stopped: WireInstant | None = None
    url: str | None = None
    storage: TrackStorageDataMessage | None = None


class StreamDataMessage(WireModel):
    id: str | None = None
    state: AnyCaseEnum[StreamState] | None = None
    type: AnyCaseEnum[StreamType] | None = None
    user_id: str | None = None
    tracks: list[TrackDataMessage] | None = None


class StorageProfileDataMessage(WireModel):
    application_id: str | None = None
    provider: AnyCaseEnum[StorageProvider] | None = None
    url: str | None = None


class RecordingDataMessage(WireModel):
    """One recording (one recorder session) in full, live while it records."""

    audio: bool | None = None
    video: bool | None = None
    chat_transcript: ChatTranscriptData | None = None
    conference_id: str | None = None
    conversation_id: str | None = None
    organization_id: str | None = None
    recorder_id: str | None = None
    instance_id: str | None = None
    state: AnyCaseEnum[RecorderState] | None = None
    error: RecorderError | None = None
    started: WireInstant | None = None
    stopped: WireInstant | None = None
    recovered: WireInstant | None = None
    storage_profile: StorageProfileDataMessage | None = None
    streams: list[StreamDataMessage] | None = None


# --- conversation reads --------------------------------------------------------------------


class ConversationTrackStorageData(WireModel):
    location: str | None = None
    size: str | None = None
    uploaded: WireInstant | None = None


class ConversationTrackData(WireModel):
    type: AnyCaseEnum[TrackType] | None = None
    started: WireInstant | None = None
    stopped: WireInstant | None = None
    storage: ConversationTrackStorageData | None = None


class ConversationStreamData(WireModel):
    type: AnyCaseEnum[StreamType] | None = None
    user_id: str | None = None
    started: WireInstant | None = None
    stopped: WireInstant | None = None
    tracks: list[ConversationTrackData] | None = None


class ConversationRecordingData(WireModel):
    audio: bool | None = None
    video: bool | None = None
    conference_id: str | None = None
    recorder_id: str | None = None
    started: WireInstant | None = None
    stopped: WireInstant | None = None
    recovered: WireInstant | None = None
    streams: list[ConversationStreamData] | None = None


class ConversationMessage(WireModel):
    """Every recording of a conversation; `duration` is ISO-8601 (`PT65.123S`)."""

    application_id: str | None = None
    conversation_id: str | None = None
    duration: str | None = None
    provider: AnyCaseEnum[StorageProvider] | None = None
    chat_transcript: ChatTranscriptData | None = None
    recordings: list[ConversationRecordingData] | None = None


class CobrowseSessionDataMessage(WireModel):
    cobrowse_session_id: str | None = None
    recorder_id: str | None = None
    recorder_instance_id: str | None = None
    uploaded: WireInstant | None = None


class ConversationCobrowseSessionDataMessage(WireModel):
    conversation_id: str | None = None
    cobrowse_sessions: list[CobrowseSessionDataMessage] | None = None


class CobrowseUrlQuery(WireModel):
    """The query seed 004 lists for the cobrowse URL call: copies of the path's ids (Spring's
    command object); the path decides, and a copy naming another id is 404."""

    conversation_id: str | None = None
    id: str | None = None
    instance_id: str | None = None


class URLResourceMessage(WireModel):
    """A signed, time-limited URL (`validUntil` is when it stops working)."""

    url: str | None = None
    valid_until: WireInstant | None = None


class StorageTestResult(WireModel):
    passed: bool | None = None
    message: str | None = None


class StorageVerificationStatusMessage(WireModel):
    """`POST /storageproviders/{applicationId}/verify`: one result per probe of the store."""

    bucket_test_result: StorageTestResult | None = None
    write_test_result: StorageTestResult | None = None
    read_test_result: StorageTestResult | None = None
    modify_test_result: StorageTestResult | None = None
    delete_test_result: StorageTestResult | None = None
