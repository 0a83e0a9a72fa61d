"""The wire views of stored recordings (seed 004's messages), built on read.

Locations are logical keys shaped like the seed's bucket paths
(``{org}/{conversationId}/{recorderId}/{streamId}/{trackId}.{webm|mkv}``): shown, never used
to find a file (files have generated names, see `server.recorder.store`).
"""

from __future__ import annotations

from datetime import timedelta

from agent.api.models.composition import format_duration
from agent.api.models.recorder import (
    ChatTranscriptData,
    ConversationMessage,
    ConversationRecordingData,
    ConversationStreamData,
    ConversationTrackData,
    ConversationTrackStorageData,
    LocalFileDataMessage,
    RecorderError,
    RecordingDataEvent,
    RecordingDataMessage,
    StorageProfileDataMessage,
    StreamDataMessage,
    TrackDataMessage,
    TrackStorageDataMessage,
    TrackType,
    UploadDataMessage,
)
from server.recorder.store import RecordingRecord, StoredError, StreamRecord, TrackRecord

_EXTENSIONS = {"webm": "webm", "matroska": "mkv"}


def storage_root(organization_id: str) -> str:
    """The logical root of an organization's recordings in the local store."""
    return f"local://recordings/{organization_id}/"


def track_location(record: RecordingRecord, stream: StreamRecord, track: TrackRecord) -> str:
    extension = _EXTENSIONS.get(track.container, "bin")
    return (
        f"{record.organization_id}/{record.conversation_id}/{record.recorder_id}/"
        f"{stream.stream_id}/{track.id}.{extension}"
    )


def error_view(error: StoredError | None) -> RecorderError | None:
    if error is None:
        return None
    return RecorderError(code=error.code, message=error.message, occurred=error.occurred)


def data_event(record: RecordingRecord) -> RecordingDataEvent:
    return RecordingDataEvent(
        conversation_id=record.conversation_id,
        recorder_id=record.recorder_id,
        instance_id=record.instance_id,
        state=record.state,
        error=error_view(record.error),
    )


def _track_view(
    record: RecordingRecord, stream: StreamRecord, track: TrackRecord
) -> TrackDataMessage:
    location = track_location(record, stream, track)
    uploaded = track.completed is not None
    return TrackDataMessage(
        id=track.id,
        type=TrackType(track.kind.upper()),
        started=track.started,
        stopped=track.stopped,
        url=location,
        storage=TrackStorageDataMessage(
            local_storage=LocalFileDataMessage(
                location=location,
                created=track.created,
                deleted=track.completed,
                error=error_view(track.error),
            ),
            object_storage=UploadDataMessage(
                location=location, size=str(track.size), uploaded=track.completed
            )
            if uploaded
            else None,
        ),
    )


def data_message(
    record: RecordingRecord, chat: ChatTranscriptData | None = None
) -> RecordingDataMessage:
    return RecordingDataMessage(
        audio=record.audio,
        video=record.video,
        chat_transcript=chat,
        conference_id=record.conference_id,
        conversation_id=record.conversation_id,
        organization_id=record.organization_id,
        recorder_id=record.recorder_id,
        instance_id=record.instance_id,
        state=record.state,
        error=error_view(record.error),
        started=record.started,
        stopped=record.stopped,
        recovered=record.recovered,
        storage_profile=storage_profile(record.application_id, record.organization_id),
        streams=[
            StreamDataMessage(
                id=stream.id,
                state=stream.state,
                type=stream.type,
                user_id=stream.user_id,
                tracks=[_track_view(record, stream, t) for t in stream.tracks],
            )
            for stream in record.streams
        ],
    )


def storage_profile(application_id: str, organization_id: str) -> StorageProfileDataMessage:
    """The local store is none of the seed's providers, so `provider` is left out."""
    return StorageProfileDataMessage(
        application_id=application_id, url=storage_root(organization_id)
    )


def conversation_message(
    records: list[RecordingRecord], chat: ChatTranscriptData | None
) -> ConversationMessage:
    """Every recording of a conversation (oldest first); `duration` sums their lengths."""
    total = sum(((r.stopped - r.started) for r in records if r.stopped is not None), timedelta())
    return ConversationMessage(
        application_id=records[-1].application_id,
        conversation_id=records[-1].conversation_id,
        duration=format_duration(total.total_seconds()),
        chat_transcript=chat,
        recordings=[
            ConversationRecordingData(
                audio=r.audio,
                video=r.video,
                conference_id=r.conference_id,
                recorder_id=r.recorder_id,
                started=r.started,
                stopped=r.stopped,
                recovered=r.recovered,
                streams=[
                    ConversationStreamData(
                        type=s.type,
                        user_id=s.user_id,
                        started=s.started,
                        stopped=s.stopped,
                        tracks=[
                            ConversationTrackData(
                                type=TrackType(t.kind.upper()),
                                started=t.started,
                                stopped=t.stopped,
                                storage=ConversationTrackStorageData(
                                    location=track_location(r, s, t),
                                    size=str(t.size),
                                    uploaded=t.completed,
                                )
                                if t.completed is not None
                                else None,
                            )
                            for t in s.tracks
                        ],
                    )
                    for s in r.streams
                ],
            )
            for r in records
        ],
    )
