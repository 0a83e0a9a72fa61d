"""The platform's recorder as the composer's `RecordingSource`: its stored recordings, with
only the tracks whose files are complete."""

from __future__ import annotations

from collections.abc import Sequence

from server.composition.recordings import RecordedTrack, Recording
from server.recorder import store
from server.storage import Storage


class RecorderRecordings:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def recordings_for(self, conversation_id: str) -> Sequence[Recording]:
        return [_recording(r) for r in store.recordings_for(self._storage, conversation_id)]


def _recording(recording: store.Recording) -> Recording:
    tracks = tuple(
        RecordedTrack(
            kind="video" if track.kind == "video" else "audio",
            path=track.path,
            started=track.started.timestamp(),
            stopped=track.stopped.timestamp(),
            user_id=track.user_id,
            stream_id=track.stream_id,
            codec=track.codec,
            published_from=track.published_from.timestamp(),
            published_to=track.published_to.timestamp() if track.published_to else None,
        )
        for track in recording.tracks
        if track.path is not None and track.started is not None and track.stopped is not None
    )
    return Recording(
        recorder_id=recording.recorder_id,
        conversation_id=recording.conversation_id,
        organization_id=recording.organization_id,
        started=recording.started.timestamp(),
        stopped=recording.stopped.timestamp() if recording.stopped else None,
        finished=recording.complete,
        agent_id=recording.agent_id,
        audio=recording.audio,
        video=recording.video,
        tracks=tracks,
    )
