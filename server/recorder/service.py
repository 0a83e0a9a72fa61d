"""Recorder sessions: INITIALISED → ACTIVE → STOPPED (or FAILED, ABORTED), one file per track.

A session follows its conference through the conference service's listeners: every stream
published while it records gets a `RecordingTap` per recorded kind on the router's ingress;
an unpublished stream's files are finished at once. Stop, the conference's end and the
maximum length finish them all before the state says STOPPED; a server shutdown finishes
them and says ABORTED. Each session's changes run one at a time (its lock), so a stop never
races a stream being added.

The session record (see `server.recorder.store`) is written at every change and checkpointed
while recording, so a crashed instance leaves enough behind for the next start to salvage
its part files (`recover`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agent.api.models.recorder import (
    RecorderState,
    StartRecording,
    StreamState,
    StreamType,
)
from server.auth.caller import Caller
from server.conferences.service import Conferences
from server.conferences.state import ConferenceState, Stream
from server.errors import ApiError, Forbidden, NotFound
from server.http import check_resource_id
from server.media.contract import MediaRouter, MediaRouterError
from server.recorder.store import (
    FILE_KIND,
    RECORDING_KIND,
    RecordingRecord,
    StoredError,
    StreamRecord,
    TrackRecord,
    load_recording,
)
from server.recorder.tap import RecordingTap
from server.recorder.writer import TrackWriter, container_for, salvage
from server.storage import Condition, Query, Storage, epoch_ms

log = logging.getLogger(__name__)

RECORDER_ROLES = ("AGENT", "SUPERVISOR", "SERVICE")
"""Who may use the recorder (the seed names none; these are the platform's staff roles)."""
CHECKPOINT_SECONDS = 2.0
"""How often a recording session's live figures are written while it records."""

_STREAM_TYPES = {
    "MIC": StreamType.MIC,
    "CAM": StreamType.CAM,
    "SCREEN": StreamType.SCREEN,
    "MIC_AND_CAM": StreamType.CAM,
}
_KINDS = {"audio": "AUDIO", "video": "VIDEO"}


def stream_type(conference_stream_type: str) -> StreamType:
    """The seed's StreamType of a conference stream type (HOLD and VIDEO never arise here)."""
    return _STREAM_TYPES.get(conference_stream_type.upper(), StreamType.UNKNOWN)


def now_utc() -> datetime:
    return datetime.now(UTC)


def stored_error(code: str, message: str) -> StoredError:
    return StoredError(code=code, message=message, occurred=now_utc())


@dataclass(eq=False)
class _Track:
    record: TrackRecord
    tap: RecordingTap | None = None

    def copy_live(self) -> None:
        """The tap's figures so far into the record (times, frames written)."""
        tap = self.tap
        if tap is None:
            return
        self.record.started, self.record.stopped = tap.started, tap.stopped
        self.record.frames = tap.writer.frames
        self.record.created = self.record.created or tap.started


@dataclass(eq=False)
class _Capture:
    """One published stream being recorded."""

    record: StreamRecord
    route: str
    """The router's id of the stream (`server.conferences.state.RoutedIds`)."""
    tracks: dict[str, _Track] = field(default_factory=dict)

    def on_air(self) -> None:
        """The stream's recorded interval starts when its media reached the recorder: a stream
        is published (and captured) before its publisher's connection is up."""
        firsts = [t.tap.first_packet for t in self.tracks.values() if t.tap and t.tap.first_packet]
        if firsts:
            self.record.started = max(self.record.started, min(firsts))


@dataclass(eq=False)
class Session:
    """A recorder session this instance owns (not finished yet)."""

    record: RecordingRecord
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    captures: dict[str, _Capture] = field(default_factory=dict)
    """By conference stream id, while published."""
    timer: asyncio.TimerHandle | None = None

    def refresh(self) -> None:
        """Copy the taps' live figures into the record."""
        for capture in self.captures.values():
            capture.on_air()
            for track in capture.tracks.values():
                track.copy_live()


class Recorders:
    """Every recorder session of this platform instance."""

    def __init__(
        self,
        conferences: Conferences,
        router: MediaRouter | None,
        storage: Storage,
        *,
        max_seconds: float,
    ) -> None:
        self.instance_id = str(uuid.uuid4())
        self._conferences = conferences
        self._router = router
        self._storage = storage
        self._max_seconds = max_seconds
        self._sessions: dict[str, Session] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._checkpoint: asyncio.Task[None] | None = None
        self._closed = False
        conferences.listeners.append(self._on_conference_event)

    # --- lifecycle of the service ---------------------------------------------------------

    async def open(self) -> None:
        """Recover what a crashed instance left, then start checkpointing."""
        await self.recover()
        self._checkpoint = asyncio.create_task(self._checkpoints(), name="recorder checkpoints")

    async def close(self) -> None:
        """Server shutdown: finish every file, then mark the sessions ABORTED."""
        self._closed = True
        if self._checkpoint is not None:
            self._checkpoint.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpoint
        for session in list(self._sessions.values()):
            await self._finish(
                session, RecorderState.ABORTED, stored_error("SHUTDOWN", "the server shut down")
            )
        for task in list(self._tasks):
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task

    async def recover(self) -> int:
        """Sessions of another instance that never finished (it crashed): salvage their part
        files and mark them ABORTED with `recovered`. How many were recovered."""
        unfinished = [
            load_recording(r)
            for r in self._storage.records.find(
                RECORDING_KIND,
                Query(
                    conditions=[
                        Condition(
                            "$.state",
                            "IN",
                            [
                                RecorderState.INITIALISED,
                                RecorderState.ACTIVE,
                                RecorderState.PENDING_RECOVERY,
                            ],
                        )
                    ]
                ),
            )
        ]
        for record in unfinished:
            if record.recorder_id in self._sessions:
                continue
            record.state = RecorderState.PENDING_RECOVERY
            self._save(record)
            for stream in record.streams:
                for track in stream.tracks:
                    if track.completed is None and track.error is None:
                        await asyncio.to_thread(self._salvage, track)
                if stream.state is StreamState.RECORDING:
                    stream.state = StreamState.STOPPED
                    stream.stopped = max(
                        (t.stopped for t in stream.tracks if t.stopped), default=stream.started
                    )
            moment = now_utc()
            record.state = RecorderState.ABORTED
            record.error = stored_error(
                "INSTANCE_LOST", f"recorder instance {record.instance_id} stopped unexpectedly"
            )
            record.recovered = moment
            record.stopped = record.stopped or max(
                (s.stopped for s in record.streams if s.stopped), default=record.started
            )
            self._save(record)
            log.info("recovered recording %s after a crash", record.recorder_id)
        return len(unfinished)

    def _salvage(self, track: TrackRecord) -> None:
        if track.file_key is None:
            track.error = stored_error("NO_MEDIA", "no frame was recorded before the crash")
            return
        files = self._storage.files
        part = files.scratch(FILE_KIND, track.file_key, ".part")
        final = files.path(FILE_KIND, track.file_key)
        saved = salvage(part, final, track.container) if part.is_file() else (0, None)
        part.unlink(missing_ok=True)
        packets, last_ms = saved
        if not packets:
            track.error = stored_error("UNREADABLE", "nothing of the file could be read back")
            return
        moment = now_utc()
        track.completed = moment
        track.size = final.stat().st_size
        track.frames = packets
        if track.started is not None and last_ms is not None:
            track.stopped = datetime.fromtimestamp(track.started.timestamp() + last_ms / 1000, UTC)

    # --- the API ------------------------------------------------------------------------------

    @staticmethod
    def check_caller(caller: Caller) -> None:
        if caller.is_customer or not caller.has_role(*RECORDER_ROLES):
            raise Forbidden(f"the recorder needs one of the roles {', '.join(RECORDER_ROLES)}")

    async def start(self, caller: Caller, command: StartRecording) -> RecordingRecord:
        self.check_caller(caller)
        check_resource_id("conversationId", command.conversation_id)
        check_resource_id("applicationId", command.application_id)
        conference = self._conferences.get(caller, command.conference_id)
        for session in self._sessions.values():
            record = session.record
            if (
                record.conversation_id == command.conversation_id
                and _records(record, conference)
                and record.state.is_active
            ):
                return record  # starting twice is harmless: the same recorder answers
        if self._closed:
            raise ApiError(503, "the recorder is shutting down")
        record = RecordingRecord(
            recorder_id=str(uuid.uuid4()),
            instance_id=self.instance_id,
            conversation_id=command.conversation_id,
            conference_id=conference.id,
            organization_id=conference.organization_id,
            application_id=command.application_id,
            agent_id=caller.user_id,
            audio=command.audio is not False,
            video=command.video is not False,
            state=RecorderState.INITIALISED,
            started=now_utc(),
        )
        self._storage.records.insert(
            RECORDING_KIND,
            record.recorder_id,
            record.organization_id,
            epoch_ms(record.started),
            record.body(),
        )
        session = Session(record)
        self._sessions[record.recorder_id] = session
        loop = asyncio.get_running_loop()
        session.timer = loop.call_later(
            self._max_seconds,
            lambda: self._spawn(
                self._finish(session, RecorderState.STOPPED, reason="maximum length reached")
            ),
        )
        self._spawn(self._activate(session, conference))
        return record

    async def stop(
        self, caller: Caller, conversation_id: str, recorder_id: str, instance_id: str
    ) -> None:
        record = self.find(caller, conversation_id, recorder_id, instance_id)
        session = self._sessions.get(record.recorder_id)
        if session is not None:
            await self._finish(session, RecorderState.STOPPED, reason="stopped")

    def find(
        self, caller: Caller, conversation_id: str, recorder_id: str, instance_id: str
    ) -> RecordingRecord:
        """A recording by its triple, live if this instance records it; 404 if another
        organization's (organizations are walls) or if any part of the triple differs, in the
        words used for a recorder that never existed."""
        self.check_caller(caller)
        missing = NotFound(
            f"recorder {recorder_id} instance {instance_id} of conversation "
            f"{conversation_id} not found"
        )
        session = self._sessions.get(recorder_id)
        if session is not None:
            session.refresh()
            record = session.record
        else:
            stored = self._storage.records.get(RECORDING_KIND, recorder_id)
            if stored is None:
                raise missing
            record = load_recording(stored)
        visible = caller.is_service or record.organization_id == caller.organization
        if not visible or (record.conversation_id, record.instance_id) != (
            conversation_id,
            instance_id,
        ):
            raise missing
        return record

    def of_conversation(self, caller: Caller, conversation_id: str) -> list[RecordingRecord]:
        """The conversation's recordings the caller may see, oldest first; 404 if none."""
        self.check_caller(caller)
        query = Query(
            organization_id=None if caller.is_service else caller.organization,
            conditions=[Condition("$.conversation_id", "=", conversation_id)],
            order_by=[("$created_at", True)],
        )
        records = []
        for stored in self._storage.records.find(RECORDING_KIND, query):
            session = self._sessions.get(stored.id)
            if session is not None:
                session.refresh()
                records.append(session.record)
            else:
                records.append(load_recording(stored))
        if not records:
            raise NotFound(f"conversation {conversation_id} has no recording")
        return records

    def active(self, caller: Caller, conversation_id: str) -> RecordingRecord:
        records = [r for r in self.of_conversation(caller, conversation_id) if r.state.is_active]
        if not records:
            raise NotFound(f"conversation {conversation_id} has no active recording")
        return records[-1]

    # --- following the conference -------------------------------------------------------------

    def _on_conference_event(self, conference: ConferenceState, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind not in (
            "ConferenceStreamPublishedEvent",
            "ConferenceStreamUnpublishedEvent",
            "ConferenceEndedEvent",
        ):
            return
        for session in list(self._sessions.values()):
            if not _records(session.record, conference):
                continue
            if kind == "ConferenceEndedEvent":
                self._spawn(
                    self._finish(session, RecorderState.STOPPED, reason="the conference ended")
                )
            elif kind == "ConferenceStreamPublishedEvent":
                stream_id = event["streamId"]
                self._spawn(self._on_published(session, conference, stream_id))
            else:
                self._spawn(self._on_unpublished(session, event["streamId"]))

    async def _activate(self, session: Session, conference: ConferenceState) -> None:
        async with session.lock:
            if session.record.state is not RecorderState.INITIALISED:
                return
            try:
                for participant in list(conference.participants.values()):
                    for stream in list(participant.streams.values()):
                        await self._capture(session, stream, participant.user_id)
            except Exception as exc:
                log.exception("recorder %s could not attach", session.record.recorder_id)
                session.record.error = stored_error("ATTACH_FAILED", str(exc) or type(exc).__name__)
                await self._finish_locked(session, RecorderState.FAILED)
                return
            session.record.state = RecorderState.ACTIVE
            self._save(session.record)

    async def _on_published(
        self, session: Session, conference: ConferenceState, stream_id: str
    ) -> None:
        async with session.lock:
            if session.record.state is not RecorderState.ACTIVE:
                return  # INITIALISED: `_activate` finds the stream itself
            stream = conference.find_stream(stream_id)
            if stream is None or stream_id in session.captures:
                return
            participant = conference.participants.get(stream.endpoint_id)
            user_id = participant.user_id if participant else ""
            await self._capture(session, stream, user_id)
            self._save(session.record)

    async def _on_unpublished(self, session: Session, stream_id: str) -> None:
        async with session.lock:
            capture = session.captures.pop(stream_id, None)
            if capture is None:
                return
            await self._end_capture(capture)
            self._save(session.record)

    async def _capture(self, session: Session, stream: Stream, user_id: str) -> None:
        """Start recording one published stream: a tap per recorded kind."""
        record = session.record
        moment = now_utc()
        entry = StreamRecord(
            id=str(uuid.uuid4()),
            stream_id=stream.id,
            conference_stream_type=stream.type,
            type=stream_type(stream.type),
            user_id=user_id,
            user_endpoint_id=stream.endpoint_id,
            state=StreamState.RECORDING,
            started=moment,
        )
        record.streams.append(entry)
        capture = _Capture(entry, stream.route)
        session.captures[stream.id] = capture
        wanted = [k for k, on in (("audio", record.audio), ("video", record.video)) if on]
        for kind in wanted:
            await self._tap(capture, kind)
        if not capture.tracks:
            capture.record.state = StreamState.STOPPED

    async def _tap(self, capture: _Capture, kind: str) -> None:
        router = self._router
        if router is None:
            track = TrackRecord(id=str(uuid.uuid4()), kind=kind, codec="", container="")
            track.error = stored_error("NO_MEDIA", "this platform runs without a media router")
            capture.tracks[kind] = _Track(track)
            capture.record.tracks.append(track)
            capture.record.state = StreamState.FAILED
            return
        try:
            codec = router.track_codec(capture.route, kind)
        except MediaRouterError:
            return  # unpublished meanwhile: its own event ends the capture
        if codec is None:
            return  # the stream has no such track (a MIC stream has no video)
        container = container_for(codec.name)
        track = TrackRecord(
            id=str(uuid.uuid4()), kind=kind, codec=codec.name, container=container or ""
        )
        capture.record.tracks.append(track)
        if container is None:
            track.error = stored_error("UNSUPPORTED_CODEC", f"cannot record {codec.name}")
            capture.tracks[kind] = _Track(track)
            return
        key = self._storage.files.new_key()
        part = self._storage.files.scratch(FILE_KIND, key, ".part")
        track.file_key = key
        writer = TrackWriter(part, self._storage.files.path(FILE_KIND, key), codec.name)
        tap = RecordingTap(kind, codec, writer)
        capture.tracks[kind] = _Track(track, tap)
        with contextlib.suppress(MediaRouterError):  # unpublished meanwhile: ends empty
            await router.tap(capture.route, kind, tap)

    async def _end_capture(self, capture: _Capture) -> None:
        """Stop the stream's taps and finish its files (all at once, each in the executor)."""
        entry = capture.record
        capture.on_air()
        live = [t for t in capture.tracks.values() if t.tap is not None]
        for track in live:
            assert track.tap is not None
            if self._router is not None:
                self._router.untap(capture.route, track.record.kind, track.tap)
        sizes = await asyncio.gather(
            *(t.tap.writer.close() for t in live if t.tap is not None), return_exceptions=True
        )
        moment = now_utc()
        failed = False
        for track, size in zip(live, sizes, strict=True):
            assert track.tap is not None
            track.copy_live()
            record = track.record
            tap = track.tap
            error = tap.writer.error or (str(size) if isinstance(size, BaseException) else None)
            if error is not None:
                record.error = stored_error("WRITE_FAILED", error)
                failed = True
            elif size is None or isinstance(size, BaseException):
                record.error = stored_error("NO_MEDIA", "no frame was received")
                record.file_key = None
            else:
                record.size = size
                record.completed = moment
            track.tap = None
        entry.stopped = moment
        if entry.state is StreamState.RECORDING:
            entry.state = StreamState.FAILED if failed else StreamState.STOPPED

    async def _finish(
        self,
        session: Session,
        state: RecorderState,
        error: StoredError | None = None,
        *,
        reason: str = "",
    ) -> None:
        async with session.lock:
            if not session.record.state.is_active:
                return
            if error is not None:
                session.record.error = error
            log.info("recorder %s: %s", session.record.recorder_id, reason or state)
            await self._finish_locked(session, state)

    async def _finish_locked(self, session: Session, state: RecorderState) -> None:
        if session.timer is not None:
            session.timer.cancel()
        captures = list(session.captures.values())
        session.captures.clear()
        await asyncio.gather(*(self._end_capture(c) for c in captures))
        record = session.record
        streams = record.streams
        if (
            state is RecorderState.STOPPED
            and streams
            and all(s.state is StreamState.FAILED for s in streams)
        ):
            state = RecorderState.FAILED
            record.error = record.error or stored_error(
                "ALL_STREAMS_FAILED", "no stream could be recorded"
            )
        record.state = state
        record.stopped = now_utc()
        self._save(record)
        self._sessions.pop(record.recorder_id, None)

    # --- persistence --------------------------------------------------------------------------

    def _save(self, record: RecordingRecord) -> None:
        self._storage.records.update(RECORDING_KIND, record.recorder_id, record.body())

    async def _checkpoints(self) -> None:
        """Live figures (first and last frame times) reach the disk while recording, so a
        crash leaves what salvage needs to time the files."""
        while True:
            await asyncio.sleep(CHECKPOINT_SECONDS)
            for session in list(self._sessions.values()):
                if session.record.state is RecorderState.ACTIVE and not session.lock.locked():
                    session.refresh()
                    self._save(session.record)

    def _spawn(self, step: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(step)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("recorder step failed", exc_info=task.exception())


def _records(record: RecordingRecord, conference: ConferenceState) -> bool:
    """Whether the recording is of this conference: conference ids are per organization, so
    another organization's namesake is not it."""
    return (record.organization_id, record.conference_id) == (
        conference.organization_id,
        conference.id,
    )
