"""What the recorder keeps, and the read interface the composer (and the tests) use.

One `recording` record per recorder session (id = recorderId, organization = the conference's),
holding the session, its streams and its tracks; the track files live in
``files/recordings/<hex key>`` (names generated here, never from an id a client sent).

The composer needs only `recordings_for(storage, conversation_id)`: every recording of the
conversation with each track's file, codec and timing. Its contract:

- A track file holds the packets exactly as the publisher encoded them (no re-encode):
  VP8 video or Opus audio in WebM, H264 (Annex-B) in Matroska. PyAV opens it without a hint.
- Packet pts are milliseconds (time base 1/1000) from the RTP timestamps; the first packet has
  pts 0 and was received at `started` (wall clock, UTC). So a packet with pts `p` belongs at
  ``started + p ms`` on the common clock every track of every recording shares.
- `published_from` / `published_to` bound the interval the stream was published while being
  recorded (a stream published twice is two streams, hence two tracks per kind).
- `path` is set only once the file is complete (`stop` returns after that). While a track is
  still being written, or if it never received a frame, or failed, `path` is None.
- `Recording.complete` says the session will not change any more (STOPPED, FAILED, ABORTED).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from agent.api.models.recorder import RecorderState, StreamState, StreamType
from server.storage import Condition, Query, Storage, StoredRecord

__all__ = [
    "RECORDING_KIND",
    "TERMINAL_STATES",
    "RecordedTrack",
    "Recording",
    "RecordingRecord",
    "StoredError",
    "StreamRecord",
    "TrackRecord",
    "load_recording",
    "recordings_for",
]

RECORDING_KIND = "recording"
FILE_KIND = "recordings"
TERMINAL_STATES = frozenset({RecorderState.STOPPED, RecorderState.FAILED, RecorderState.ABORTED})


# --- what is stored (snake_case JSON in the record body) -------------------------------------


class _Stored(BaseModel):
    model_config = ConfigDict(extra="ignore")


class StoredError(_Stored):
    code: str
    message: str
    occurred: datetime


class TrackRecord(_Stored):
    """One media kind of one recorded stream, and its file."""

    id: str
    kind: str
    """"audio" or "video"."""
    codec: str
    """The RTP codec name as negotiated: "VP8", "H264", "opus"."""
    container: str
    """"webm" or "matroska"."""
    file_key: str | None = None
    """The file under ``files/recordings/``; set when the file is created."""
    created: datetime | None = None
    """When the file was opened (the first frame arrived)."""
    started: datetime | None = None
    """Wall clock of the first packet written (pts 0)."""
    stopped: datetime | None = None
    """Wall clock of the last packet written."""
    completed: datetime | None = None
    """When the file was finalised (trailer written, moved to its final name)."""
    size: int | None = None
    frames: int = 0
    error: StoredError | None = None


class StreamRecord(_Stored):
    """One publication of a conference stream while it was being recorded."""

    id: str
    """This entry's id (a stream id published twice makes two entries)."""
    stream_id: str
    conference_stream_type: str
    type: StreamType
    user_id: str
    user_endpoint_id: str
    state: StreamState
    started: datetime
    stopped: datetime | None = None
    tracks: list[TrackRecord] = []


class RecordingRecord(_Stored):
    """One recorder session: created by one `start`, owned by one recorder instance."""

    recorder_id: str
    instance_id: str
    conversation_id: str
    conference_id: str
    organization_id: str
    application_id: str
    agent_id: str
    """The user who started it."""
    audio: bool
    video: bool
    state: RecorderState
    error: StoredError | None = None
    started: datetime
    stopped: datetime | None = None
    recovered: datetime | None = None
    streams: list[StreamRecord] = []

    def body(self) -> dict[str, object]:
        return self.model_dump(mode="json")


def load_recording(stored: StoredRecord) -> RecordingRecord:
    return RecordingRecord.model_validate(stored.body)


# --- the read interface ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordedTrack:
    """One track file of a recording, with what it takes to place it on a timeline."""

    recorder_id: str
    track_id: str
    stream_id: str
    """The conference's stream id (RTC)."""
    stream_type: StreamType
    user_id: str
    user_endpoint_id: str
    kind: str
    """"audio" or "video"."""
    codec: str
    """"VP8", "H264" or "opus"."""
    container: str
    """"webm" or "matroska"."""
    path: Path | None
    """The complete file; None while recording, or when no frame came, or on a failure."""
    started: datetime | None
    """Wall clock of pts 0 (the first packet)."""
    stopped: datetime | None
    """Wall clock of the last packet."""
    published_from: datetime
    published_to: datetime | None
    error: str | None


@dataclass(frozen=True, slots=True)
class Recording:
    conversation_id: str
    conference_id: str
    recorder_id: str
    instance_id: str
    organization_id: str
    agent_id: str
    audio: bool
    video: bool
    state: RecorderState
    started: datetime
    stopped: datetime | None
    tracks: tuple[RecordedTrack, ...]

    @property
    def complete(self) -> bool:
        """Nothing will change any more: every file that will exist is complete."""
        return self.state in TERMINAL_STATES

    @property
    def user_ids(self) -> frozenset[str]:
        return frozenset(t.user_id for t in self.tracks)


def recordings_for(
    storage: Storage, conversation_id: str, organization_id: str | None = None
) -> list[Recording]:
    """The conversation's recordings, oldest first; only `organization_id`'s when given."""
    query = Query(
        organization_id=organization_id,
        conditions=[Condition("$.conversation_id", "=", conversation_id)],
        order_by=[("$created_at", True)],
    )
    return [_view(storage, load_recording(r)) for r in storage.records.find(RECORDING_KIND, query)]


def _view(storage: Storage, record: RecordingRecord) -> Recording:
    tracks = tuple(
        RecordedTrack(
            recorder_id=record.recorder_id,
            track_id=track.id,
            stream_id=stream.stream_id,
            stream_type=stream.type,
            user_id=stream.user_id,
            user_endpoint_id=stream.user_endpoint_id,
            kind=track.kind,
            codec=track.codec,
            container=track.container,
            path=_complete_path(storage, track),
            started=track.started,
            stopped=track.stopped,
            published_from=stream.started,
            published_to=stream.stopped,
            error=track.error.message if track.error else None,
        )
        for stream in record.streams
        for track in stream.tracks
    )
    return Recording(
        conversation_id=record.conversation_id,
        conference_id=record.conference_id,
        recorder_id=record.recorder_id,
        instance_id=record.instance_id,
        organization_id=record.organization_id,
        agent_id=record.agent_id,
        audio=record.audio,
        video=record.video,
        state=record.state,
        started=record.started,
        stopped=record.stopped,
        tracks=tracks,
    )


def _complete_path(storage: Storage, track: TrackRecord) -> Path | None:
    if track.file_key is None or track.completed is None or track.error is not None:
        return None
    path = storage.files.path(FILE_KIND, track.file_key)
    return path if path.is_file() else None
