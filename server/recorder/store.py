"""What the recorder keeps, and the read interface the composer (and the tests) use.

One `recording` record per recorder session (id = recorderId, organization = the conference's),
holding the session, its streams and its tracks; the track files live in
``files/recordings/<hex key>`` (names generated here, never from an id a client sent).

The composer reads them through `StoredRecordings` (its `RecordingSource`, set as
`RECORDINGS_KEY` by the recorder's routes): every recording of the conversation with each
track's file, codec and timing (`server.composition.recordings` types). The contract:

- A track file holds the packets exactly as the publisher encoded them (no re-encode):
  VP8 video or Opus audio in WebM, H264 (Annex-B) in Matroska. PyAV opens it without a hint.
- Packet pts are milliseconds (time base 1/1000) from the RTP timestamps; the first packet has
  pts 0, and `started` (epoch seconds) is when pts 0 was on the wire: the least delayed
  frame's arrival minus its pts, so one late frame does not shift the track. So a packet
  with pts `p` belongs at ``started + p / 1000`` on the common clock all tracks share.
- `published_from` / `published_to` bound the interval the stream was on air while being
  recorded: from its first packet reaching the recorder (a stream is published before its
  publisher's connection is up) to its unpublishing or the recorder's stop (a stream
  published twice is two streams, hence two tracks per kind).
- A track is listed only once its file is complete (`stop` returns after that): not while it
  is written, nor if it never received a frame, nor if it failed.
- `Recording.finished` says the session will not change any more (STOPPED, FAILED, ABORTED).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from agent.api.models.recorder import RecorderState, StreamState, StreamType
from server.composition.recordings import RecordedTrack, Recording
from server.storage import Condition, Query, Storage, StoredRecord

__all__ = [
    "RECORDING_KIND",
    "TERMINAL_STATES",
    "RecordingRecord",
    "StoredError",
    "StoredRecordings",
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
    """Wall clock of pts 0 (the first frame written): estimated from the least delayed frame,
    its first packet's arrival minus its pts."""
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


# --- the read interface (the composer's `RecordingSource`) ------------------------------------


class StoredRecordings:
    """The recorder's recordings as the composer reads them (`RecordingSource`)."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def recordings_for(self, conversation_id: str) -> list[Recording]:
        return recordings_for(self._storage, conversation_id)


def recordings_for(
    storage: Storage, conversation_id: str, organization_id: str | None = None
) -> list[Recording]:
    """The conversation's recordings, oldest first; only `organization_id`'s when given.
    A track is listed once its file is complete."""
    query = Query(
        organization_id=organization_id,
        conditions=[Condition("$.conversation_id", "=", conversation_id)],
        order_by=[("$created_at", True)],
    )
    return [_view(storage, load_recording(r)) for r in storage.records.find(RECORDING_KIND, query)]


def _view(storage: Storage, record: RecordingRecord) -> Recording:
    tracks = []
    for stream in record.streams:
        for track in stream.tracks:
            path = _complete_path(storage, track)
            if path is None or track.started is None or track.stopped is None:
                continue
            tracks.append(
                RecordedTrack(
                    kind="audio" if track.kind == "audio" else "video",
                    path=path,
                    started=track.started.timestamp(),
                    stopped=track.stopped.timestamp(),
                    user_id=stream.user_id,
                    stream_id=stream.stream_id,
                    codec=track.codec,
                    user_endpoint_id=stream.user_endpoint_id,
                    stream_type=stream.type.value,
                    container=track.container,
                    recorder_id=record.recorder_id,
                    published_from=stream.started.timestamp(),
                    published_to=stream.stopped.timestamp() if stream.stopped else None,
                )
            )
    return Recording(
        recorder_id=record.recorder_id,
        conversation_id=record.conversation_id,
        organization_id=record.organization_id,
        started=record.started.timestamp(),
        stopped=record.stopped.timestamp() if record.stopped else None,
        finished=record.state in TERMINAL_STATES,
        agent_id=record.agent_id,
        audio=record.audio,
        video=record.video,
        tracks=tuple(tracks),
    )


def _complete_path(storage: Storage, track: TrackRecord) -> Path | None:
    if track.file_key is None or track.completed is None or track.error is not None:
        return None
    path = storage.files.path(FILE_KIND, track.file_key)
    return path if path.is_file() else None
