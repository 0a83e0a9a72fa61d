"""Compositions: requests queued by priority, run one worker at a time through their states,
rendered by a child process, kept as records across restarts.

QUEUED -> PREPROCESSING (wait until the conversation's recordings are finished, gather the
tracks) -> PROCESSING (the `render` child) -> COMPLETED, or FAILED / CANCELLED. A higher
`priority` runs first, requests of one priority in the order they came. Cancel kills the child;
re-execute runs a finished one again under the same id; delete removes record and file.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import os
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import server
from agent.api.models.base import format_timestamp
from agent.api.models.composition import (
    ACTIVE_COMPOSITION_STATES,
    ComposedRecordingDataMessage,
    CompositionError,
    CompositionIdentifier,
    CompositionLayout,
    CompositionState,
    CompositionType,
    CompositionView,
    CreateCompositionWebCommand,
    ReExecuteCompositionWebCommand,
    format_duration,
)
from server.auth.caller import Caller
from server.composition.job import DEFAULT_FPS, OutputType, RenderJob, kinds_for, timeline
from server.composition.recordings import Recording, RecordingSource
from server.errors import Conflict, NotFound
from server.storage import Condition, Query, RecordStore, StoredRecord, epoch_ms, utc_now
from server.storage.files import FileStore

log = logging.getLogger(__name__)

COMPOSITION = "composition"
FILES = "compositions"
TERMINATE_GRACE = 5.0
RENDER_MODULE = "server.composition.render"
PROJECT_ROOT = str(Path(server.__file__).resolve().parent.parent)
"""On the child's PYTHONPATH, so `-m server.composition.render` imports this very code."""
FINISHED_STATES = frozenset(
    {CompositionState.COMPLETED, CompositionState.FAILED, CompositionState.CANCELLED}
)


@dataclass(frozen=True, slots=True)
class Settings:
    workers: int = 1
    fps: int = DEFAULT_FPS
    timeout: float = 3600.0
    """A render running longer than this is killed and FAILED."""
    preprocess_wait: float = 600.0
    """How long PREPROCESSING waits for the conversation's recordings to finish."""
    poll: float = 0.25


class RenderFailed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def media_type(view: CompositionView) -> tuple[str, str]:
    """The file extension and Content-Type of a composition's file."""
    return ("mp4", "video/mp4") if view.type == CompositionType.VIDEO else ("mp3", "audio/mpeg")


def file_name(view: CompositionView) -> str:
    """The name a player URL carries: `{conversationId}.{mp4|mp3}`, as in the seed's example."""
    return f"{view.conversation_id}.{media_type(view)[0]}"


def recording_metadata(recordings: Sequence[Recording]) -> ComposedRecordingDataMessage:
    ordered = sorted(recordings, key=lambda r: r.started)
    tracks = [t for r in ordered for t in r.tracks]
    first, last = ordered[0], ordered[-1]
    stopped = last.stopped if all(r.finished for r in ordered) else None
    return ComposedRecordingDataMessage(
        agent_id=first.agent_id,
        conversation_id=first.conversation_id,
        organization_id=first.organization_id,
        audio=any(r.audio for r in ordered),
        video=any(r.video for r in ordered),
        can_export_audio=any(t.kind == "audio" for t in tracks),
        can_export_video=any(t.kind == "video" for t in tracks),
        started=format_timestamp(_utc(first.started)),
        stopped=format_timestamp(_utc(stopped)) if stopped is not None else None,
        duration=format_duration(sum(r.end - r.started for r in ordered)),
        total_participants=len({t.user_id for t in tracks if t.user_id}),
    )


def _utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@dataclass
class _Running:
    task: asyncio.Task[None]
    process: asyncio.subprocess.Process | None = None


class Compositions:
    def __init__(
        self,
        records: RecordStore,
        files: FileStore,
        source: Callable[[], RecordingSource],
        settings: Settings = Settings(),
    ) -> None:
        self._records = records
        self._files = files
        self._source = source
        self.settings = settings
        self._queue: list[tuple[int, int, str]] = []
        self._seq = itertools.count()
        self._wakeup = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self._running: dict[str, _Running] = {}

    def use_source(self, source: RecordingSource) -> None:
        """Read recordings from `source` from now on (a test's own files, another recorder)."""
        self._source = lambda: source

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Re-queue what a stopped platform left unfinished (rendering is idempotent)."""
        active = [s.value for s in ACTIVE_COMPOSITION_STATES]
        unfinished = self._records.find(
            COMPOSITION,
            Query(conditions=[Condition("$.view.state", "IN", active)], order_by=[("$.seq", True)]),
        )
        for record in unfinished:
            body = dict(record.body)
            body["view"] = {**body["view"], "state": CompositionState.QUEUED.value}
            self._records.update(COMPOSITION, record.id, body)
            self._push(record.id, int(body["priority"]))
        self._workers = [
            asyncio.create_task(self._work(), name=f"composition-worker-{n}")
            for n in range(self.settings.workers)
        ]

    async def close(self) -> None:
        for worker in self._workers:
            worker.cancel()
        for running in list(self._running.values()):
            running.task.cancel()
        for task in [*self._workers, *(r.task for r in self._running.values())]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers = []

    # -- commands --------------------------------------------------------------------------

    def request(
        self, caller: Caller, command: CreateCompositionWebCommand
    ) -> CompositionIdentifier:
        recordings = self.visible_recordings(caller, command.conversation_id)
        metadata = recording_metadata(recordings)
        if command.type == CompositionType.VIDEO and not metadata.can_export_video:
            raise Conflict(  # the request is well formed; the recording lacks what it asks
                f"type: conversation {command.conversation_id} has no recorded video; "
                "request an AUDIO composition"
            )
        now = utc_now()
        composition_id = str(uuid.uuid4())
        width, height = command.size
        view = CompositionView(
            id=composition_id,
            conversation_id=command.conversation_id,
            name=command.name,
            user_id=caller.user_id,
            type=command.type,
            format=command.video_format
            if command.type == CompositionType.VIDEO
            else command.audio_format,
            layout=CompositionLayout.GRID,
            state=CompositionState.QUEUED,
            created=format_timestamp(now),
        )
        seq = next(self._seq)
        body = {
            "view": view.to_wire(),
            "priority": command.priority,
            "seq": epoch_ms(now) * 1000 + seq % 1000,
            "width": width,
            "height": height,
            "fileKey": None,
        }
        self._records.insert(
            COMPOSITION, composition_id, recordings[0].organization_id, epoch_ms(now), body
        )
        self._push(composition_id, command.priority)
        return CompositionIdentifier(conversation_id=command.conversation_id, id=composition_id)

    async def reexecute(
        self, caller: Caller, command: ReExecuteCompositionWebCommand
    ) -> CompositionIdentifier:
        record = self.find(caller, command.conversation_id, command.id)
        view = view_of(record)
        if view.state not in FINISHED_STATES:
            raise Conflict(f"composition {command.id} is {view.state}; re-execute a finished one")
        await self._delete_file(record)
        body = dict(record.body)
        view.state, view.completed, view.duration, view.error = (
            CompositionState.QUEUED,
            None,
            None,
            None,
        )
        body.update(view=view.to_wire(), priority=command.priority, fileKey=None)
        self._records.update(COMPOSITION, record.id, body)
        self._push(record.id, command.priority)
        return CompositionIdentifier(conversation_id=command.conversation_id, id=command.id)

    async def cancel(self, caller: Caller, conversation_id: str, composition_id: str) -> None:
        record = self.find(caller, conversation_id, composition_id)
        state = view_of(record).state
        if state == CompositionState.CANCELLED:
            return
        if state in (CompositionState.COMPLETED, CompositionState.FAILED):
            raise Conflict(f"composition {composition_id} is already {state}")
        await self._stop(composition_id)
        record = self.find(caller, conversation_id, composition_id)
        state = view_of(record).state
        if state in (CompositionState.COMPLETED, CompositionState.FAILED):
            raise Conflict(f"composition {composition_id} finished ({state}) before the cancel")
        self._set_state(composition_id, CompositionState.CANCELLED)

    async def delete(self, caller: Caller, conversation_id: str, composition_id: str) -> None:
        record = self.find(caller, conversation_id, composition_id)
        await self._stop(composition_id)
        await self._delete_file(record)
        self._records.delete(COMPOSITION, composition_id)

    # -- reads -----------------------------------------------------------------------------

    def visible_recordings(self, caller: Caller, conversation_id: str) -> list[Recording]:
        """The conversation's recordings the caller may see; 404 when there are none (another
        organization's conversation answers exactly like one that does not exist)."""
        recordings = [
            r
            for r in self._source().recordings_for(conversation_id)
            if caller.is_service or r.organization_id == caller.organization
        ]
        if not recordings:
            raise NotFound(f"conversation {conversation_id} has no recording")
        return recordings

    def find(self, caller: Caller, conversation_id: str, composition_id: str) -> StoredRecord:
        record = self._records.get(COMPOSITION, composition_id)
        if (
            record is None
            or record.body["view"].get("conversationId") != conversation_id
            or not (caller.is_service or record.organization_id == caller.organization)
        ):
            raise NotFound(
                f"composition {composition_id} of conversation {conversation_id} not found"
            )
        return record

    def of_conversation(self, caller: Caller, conversation_id: str) -> list[CompositionView]:
        query = Query(
            organization_id=None if caller.is_service else caller.organization,
            conditions=[Condition("$.view.conversationId", "=", conversation_id)],
            order_by=[("$created_at", False)],
        )
        return [view_of(r) for r in self._records.find(COMPOSITION, query)]

    def of_user(self, caller: Caller, page: int, size: int) -> tuple[list[CompositionView], int]:
        query = Query(
            organization_id=caller.organization,
            conditions=[Condition("$.view.userId", "=", caller.user_id)],
            order_by=[("$created_at", False)],
        )
        total = self._records.count(COMPOSITION, query)
        paged = Query(
            organization_id=query.organization_id,
            conditions=query.conditions,
            order_by=query.order_by,
            limit=size,
            offset=page * size,
        )
        return [view_of(r) for r in self._records.find(COMPOSITION, paged)], total

    def completed_file(self, record: StoredRecord) -> Path | None:
        key = record.body.get("fileKey")
        if view_of(record).state != CompositionState.COMPLETED or not key:
            return None
        path = self._files.path(FILES, key)
        return path if path.is_file() else None

    def get(self, composition_id: str) -> StoredRecord | None:
        """A composition's record, whoever owns it (the signed downloads check the rest)."""
        return self._records.get(COMPOSITION, composition_id)

    def child_pid(self, composition_id: str) -> int | None:
        """The render process of a composition now rendering (for tests and diagnostics)."""
        running = self._running.get(composition_id)
        return running.process.pid if running and running.process else None

    # -- the queue -------------------------------------------------------------------------

    def _push(self, composition_id: str, priority: int) -> None:
        heapq.heappush(self._queue, (-priority, next(self._seq), composition_id))
        self._wakeup.set()

    async def _next(self) -> str:
        while not self._queue:
            self._wakeup.clear()
            await self._wakeup.wait()
        return heapq.heappop(self._queue)[2]

    async def _work(self) -> None:
        while True:
            composition_id = await self._next()
            record = self._records.get(COMPOSITION, composition_id)
            if record is None or view_of(record).state != CompositionState.QUEUED:
                continue  # cancelled or deleted while it waited
            task = asyncio.create_task(self._run(record), name=f"composition-{composition_id}")
            self._running[composition_id] = _Running(task)
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                if not task.done():  # the worker itself is being stopped
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                    raise
            except Exception:
                log.exception("composition %s failed unexpectedly", composition_id)
            finally:
                self._running.pop(composition_id, None)

    async def _stop(self, composition_id: str) -> None:
        """Stop a running composition: its task is cancelled, which kills its child."""
        running = self._running.get(composition_id)
        if running is None:
            return
        running.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running.task

    # -- one run ---------------------------------------------------------------------------

    async def _run(self, record: StoredRecord) -> None:
        composition_id = record.id
        view = view_of(record)
        self._set_state(composition_id, CompositionState.PREPROCESSING)
        key = self._files.new_key()
        part = self._files.scratch(FILES, key, ".part")
        job_file = self._files.scratch(FILES, key, ".job.json")
        try:
            recordings = await self._finished_recordings(view, record.organization_id)
            output: OutputType = "VIDEO" if view.type == CompositionType.VIDEO else "AUDIO"
            duration, tracks = timeline(recordings, kinds_for(output))
            if duration <= 0:
                raise RenderFailed("EMPTY_RECORDING", "the recordings hold no media time")
            job = RenderJob(
                output=str(part),
                type=output,
                duration=duration,
                width=int(record.body["width"]),
                height=int(record.body["height"]),
                fps=self.settings.fps,
                tracks=tracks,
            )
            job.dump(job_file)
            self._set_state(composition_id, CompositionState.PROCESSING)
            await self._render(composition_id, job_file)
            part.replace(self._files.path(FILES, key))
            self._complete(composition_id, key, duration)
        except RenderFailed as failure:
            log.warning("composition %s failed: %s", composition_id, failure.message)
            self._fail(composition_id, failure.code, failure.message)
        except Exception:
            # A fault of the composer itself: the composition must not stay PROCESSING.
            log.exception("composition %s: the composer failed", composition_id)
            self._fail(composition_id, "INTERNAL_ERROR", "the composer failed (see its log)")
        finally:
            part.unlink(missing_ok=True)
            job_file.unlink(missing_ok=True)

    async def _finished_recordings(
        self, view: CompositionView, organization: str
    ) -> list[Recording]:
        assert view.conversation_id is not None
        deadline = asyncio.get_running_loop().time() + self.settings.preprocess_wait
        while True:
            recordings = [
                r
                for r in self._source().recordings_for(view.conversation_id)
                if r.organization_id == organization
            ]
            if not recordings:
                raise RenderFailed("NO_RECORDING", "the conversation's recordings are gone")
            if all(r.finished for r in recordings):
                return recordings
            if asyncio.get_running_loop().time() >= deadline:
                raise RenderFailed("RECORDING_STILL_ACTIVE", "the recording did not finish in time")
            await asyncio.sleep(self.settings.poll)

    async def _render(self, composition_id: str, job_file: Path) -> None:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                filter(None, [PROJECT_ROOT, os.environ.get("PYTHONPATH")])
            ),
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", RENDER_MODULE, str(job_file),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )  # fmt: skip
        self._running[composition_id].process = process
        try:
            async with asyncio.timeout(self.settings.timeout):
                assert process.stderr is not None
                errors = await process.stderr.read()
                code = await process.wait()
        except TimeoutError:
            raise RenderFailed(
                "TIMEOUT", f"rendering took longer than {self.settings.timeout:g} s"
            ) from None
        finally:
            await _end(process)
        if code != 0:
            lines = errors.decode(errors="replace").strip().splitlines()
            raise RenderFailed("RENDER_FAILED", lines[-1][:300] if lines else f"exit status {code}")

    # -- state -----------------------------------------------------------------------------

    def _update(self, composition_id: str, change: Callable[[CompositionView], None]) -> None:
        record = self._records.get(COMPOSITION, composition_id)
        if record is None:
            return
        view = view_of(record)
        change(view)
        self._records.update(COMPOSITION, composition_id, {**record.body, "view": view.to_wire()})

    def _set_state(self, composition_id: str, state: CompositionState) -> None:
        def change(view: CompositionView) -> None:
            view.state = state

        self._update(composition_id, change)

    def _complete(self, composition_id: str, key: str, duration: float) -> None:
        record = self._records.get(COMPOSITION, composition_id)
        if record is None:
            return
        view = view_of(record)
        view.state = CompositionState.COMPLETED
        view.completed = format_timestamp(utc_now())
        view.duration = format_duration(duration)
        self._records.update(
            COMPOSITION, composition_id, {**record.body, "view": view.to_wire(), "fileKey": key}
        )

    def _fail(self, composition_id: str, code: str, message: str) -> None:
        def change(view: CompositionView) -> None:
            view.state = CompositionState.FAILED
            view.completed = format_timestamp(utc_now())
            view.error = CompositionError(code=code, message=message)

        self._update(composition_id, change)

    async def _delete_file(self, record: StoredRecord) -> None:
        key = record.body.get("fileKey")
        if key:
            await self._files.delete(FILES, key)


def view_of(record: StoredRecord) -> CompositionView:
    return CompositionView.model_validate(record.body["view"])


async def _end(process: asyncio.subprocess.Process) -> None:
    """Make sure the child is gone: terminate, then kill after a grace period."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        async with asyncio.timeout(TERMINATE_GRACE):
            await process.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
