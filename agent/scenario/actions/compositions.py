"""Composition steps (seed 003): request a composition of the conversation's recordings and
follow it to the end, download it through its signed URL and check its content; cancel,
re-execute and delete the last one.

Each request is a `CompositionRecord` in the participant's result (`compositions`), with the
queue time and composition time the metrics of the same names read."""

from __future__ import annotations

import asyncio
import time
from functools import partial
from pathlib import Path

from agent.api.endpoints.compositions import Compositions
from agent.api.models.composition import (
    CompositionState,
    CreateCompositionWebCommand,
    ReExecuteCompositionWebCommand,
    instant_seconds,
    parse_duration,
)
from agent.api.models.recorder import ConversationRecordingData
from agent.scenario.model import (
    CancelCompositionStep,
    ComposeStep,
    DeleteCompositionStep,
    ReexecuteCompositionStep,
)
from agent.scenario.results import CompositionRecord
from agent.scenario.run_actor import Actor
from agent.scenario.steps import action
from agent.scenario.surface import StepFailed
from agent.scenario.templating import render
from media.composition_check import (
    LIVE_TIMECODE_BOUND,
    TileSpan,
    check_media,
    check_sync,
    check_tiles,
)

__all__: list[str] = []

POLL_SECONDS = 0.5
DIRECTORY = "compositions"


def _conversation(actor: Actor, step: ComposeStep) -> str:
    if step.conversation:
        return render(step.conversation, actor.template)
    if actor.interaction_id is not None:
        return actor.interaction_id
    participant = actor.require()
    if participant.conference_id is None:
        raise StepFailed("no conversation: give `conversation`, create an interaction or join")
    return participant.conference_id


def _last(actor: Actor, what: str) -> CompositionRecord:
    if not actor.result.compositions:
        raise StepFailed(f"no composition to {what}: request one with a `compose` step first")
    return actor.result.compositions[-1]


@action(ComposeStep)
async def compose(actor: Actor, step: ComposeStep) -> None:
    api = actor.require().api.compositions
    conversation = _conversation(actor, step)
    name = render(step.name, actor.template) if step.name else f"{actor.name}-{step.type}"
    command = CreateCompositionWebCommand.model_validate(
        {
            "conversationId": conversation,
            "type": step.type,
            "layout": "GRID",
            "name": name,
            "resolution": step.resolution,
            "priority": step.priority,
        }
    )
    record = CompositionRecord(
        t=actor.run.clock.now(), conversation=conversation, id="", type=step.type
    )
    requested = time.monotonic()
    identifier = await api.request(command)
    record.id = identifier.id
    record.state = CompositionState.QUEUED.value
    actor.result.compositions.append(record)
    if step.wait:
        await _follow(api, record, requested, step.timeout)
        if step.download:
            path = await _download(actor, api, record, command, inline=step.inline)
            if step.check_tiles and command.type == "VIDEO":
                await _check_tiles(actor, record, path)


@action(CancelCompositionStep)
async def cancel_composition(actor: Actor, step: CancelCompositionStep) -> None:
    record = _last(actor, "cancel")
    await actor.require().api.compositions.cancel(record.conversation, record.id)
    record.state = CompositionState.CANCELLED.value


@action(ReexecuteCompositionStep)
async def reexecute_composition(actor: Actor, step: ReexecuteCompositionStep) -> None:
    record = _last(actor, "re-execute")
    api = actor.require().api.compositions
    requested = time.monotonic()
    await api.reexecute(
        ReExecuteCompositionWebCommand(
            conversation_id=record.conversation, id=record.id, priority=step.priority
        )
    )
    record.state, record.queue_time, record.composition_time = "QUEUED", None, None
    if step.wait:
        await _follow(api, record, requested, step.timeout)


@action(DeleteCompositionStep)
async def delete_composition(actor: Actor, step: DeleteCompositionStep) -> None:
    record = _last(actor, "delete")
    await actor.require().api.compositions.delete(record.conversation, record.id)
    record.state = "DELETED"


async def _follow(
    api: Compositions, record: CompositionRecord, requested: float, within: float
) -> None:
    """Poll until it is done; the queue time is when it was first seen out of QUEUED."""
    deadline = requested + within
    while True:
        view = await api.get(record.conversation, record.id)
        now = time.monotonic()
        record.state = str(view.state)
        if record.queue_time is None and view.state != CompositionState.QUEUED:
            record.queue_time = now - requested
        if view.finished:
            break
        if now >= deadline:
            raise StepFailed(f"composition {record.id} still {view.state} after {within:g} s")
        await asyncio.sleep(POLL_SECONDS)
    if view.state != CompositionState.COMPLETED:
        reason = f": {view.error.message}" if view.error and view.error.message else ""
        raise StepFailed(f"composition {record.id} ended {view.state}{reason}")
    record.composition_time = time.monotonic() - requested
    record.duration = view.duration_seconds


async def _download(
    actor: Actor,
    api: Compositions,
    record: CompositionRecord,
    command: CreateCompositionWebCommand,
    *,
    inline: bool,
) -> Path:
    resource = await api.url(record.conversation, record.id, inline=inline)
    if not resource.url:
        raise StepFailed(f"composition {record.id}: no URL in the answer")
    body = (await api.download(resource.url)).body
    extension = "mp4" if command.type == "VIDEO" else "mp3"
    relative = Path(DIRECTORY) / f"{actor.name}-{record.id}.{extension}"
    base = actor.run.report_dir or Path("reports")
    path = base / relative
    await asyncio.to_thread(_write, path, body)
    record.file = str(relative)
    recorded = (await api.conversation(record.conversation)).recording_metadata
    expected = parse_duration(recorded.duration) if recorded and recorded.duration else None
    size = command.size if command.type == "VIDEO" else None
    record.problems = await asyncio.to_thread(
        check_media, path, kind=command.type, size=size, duration=expected
    )
    if record.problems:
        raise StepFailed(f"composition {record.id}: {'; '.join(record.problems)}")
    return path


async def _check_tiles(actor: Actor, record: CompositionRecord, path: Path) -> None:
    """Who was publishing when, from the Recorder API, against what the tiles show."""
    recorded = await actor.require().api.recorder.conversation(record.conversation)
    spans, origin = tile_spans(recorded.recordings or [])
    if origin is None:
        raise StepFailed(f"conversation {record.conversation}: no recording to check against")
    # A live call: its publishers' loop may stall a few frames under load (LIVE_TIMECODE_BOUND).
    problems = await asyncio.to_thread(
        partial(check_tiles, bound=LIVE_TIMECODE_BOUND), path, spans, origin * 1000
    )
    problems += await asyncio.to_thread(check_sync, path, spans, origin * 1000)
    record.problems += problems
    if problems:
        raise StepFailed(f"composition {record.id}: {'; '.join(problems)}")


def tile_spans(
    recordings: list[ConversationRecordingData],
) -> tuple[list[TileSpan], float | None]:
    """The video streams of the first recording on the composition's timeline, and the
    wall-clock time (epoch s) of its start. Only the first: a later recording's pictures come
    after a skipped gap, so their timecodes do not follow the first one's clock."""
    ordered = sorted(
        (r for r in recordings if instant_seconds(r.started) is not None),
        key=lambda r: instant_seconds(r.started) or 0.0,
    )[:1]
    spans: list[TileSpan] = []
    for recording in ordered:
        started = instant_seconds(recording.started) or 0.0
        stopped = instant_seconds(recording.stopped) or started
        for stream in recording.streams or []:
            # The composer's rule (`RecordedTrack.shown_from`/`shown_to`): a recorded video
            # track's tile shows from its stream's publish or its first frame, whichever came
            # first, to its unpublish or last frame, whichever came last. A track with no file
            # has no tile (recordings_complete says it is missing).
            video = [
                t for t in stream.tracks or [] if str(t.type) == "VIDEO" and t.storage is not None
            ]
            if not video:
                continue
            track_from = instant_seconds(video[0].started)
            track_to = instant_seconds(video[0].stopped)
            published = instant_seconds(stream.started)
            unpublished = instant_seconds(stream.stopped)
            begin = min((x for x in (published, track_from) if x is not None), default=started)
            end = max((x for x in (unpublished, track_to) if x is not None), default=stopped)
            begin, end = max(started, begin), min(stopped, end)
            if end > begin:
                spans.append(TileSpan(begin - started, end - started, stream.user_id or ""))
    spans.sort(key=lambda s: s.start)
    first = instant_seconds(ordered[0].started) if ordered else None
    return spans, first


def _write(path: Path, body: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
