"""A participant's timeline: when each step runs (`at`, `after`, in order), repeats,
waits, pauses, and what each step asks of the actor.

A step that fails is recorded (a failed `StepRecord` and an `ErrorRecord`) and the timeline
goes on: the next steps may still work, and the report shows each failure where it was."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Sequence

from agent.participant.records import describe
from agent.scenario import run_requests
from agent.scenario.model import (
    ApproveStep,
    BitrateStep,
    CameraRequestStep,
    CreateInteractionStep,
    DiscardStep,
    JoinStep,
    LeaveStep,
    MetadataStep,
    MuteStep,
    PublishStep,
    RateStep,
    RegisterStep,
    RepeatStep,
    RequestSnapshotStep,
    SendEventStep,
    SleepStep,
    Step,
    StopViewStep,
    ThinkStep,
    UnmuteStep,
    UnpublishStep,
    UnregisterStep,
    UpdateInteractionStep,
    ViewStep,
    WaitForStep,
)
from agent.scenario.run_actor import Actor, StepFailed

__all__ = ["live"]

POLL = 0.1
"""How often a wait looks again at what it waits for (conditions span participants)."""
EVENT_TYPE = re.compile(r"^[A-Z][A-Za-z0-9]*Event$")
UNTIMED = (SleepStep, ThinkStep, RepeatStep)
"""Pauses and containers are not steps that can fail, so they are not counted as steps."""


async def live(actor: Actor) -> None:
    """The participant's life from its arrival: its timeline, then (default timeline) stay.

    Waits for its own start time first; returns when its timeline is done."""
    await actor.run.clock.sleep_until(actor.result.arrived_at)
    await _run(actor, actor.plan.steps)
    if actor.group.timeline is None:
        await asyncio.Event().wait()  # until the run ends and cancels it


async def _run(actor: Actor, steps: Sequence[Step]) -> None:
    for step in steps:
        await _trigger(actor, step)
        await _perform(actor, step)


async def _trigger(actor: Actor, step: Step) -> None:
    clock = actor.run.clock
    if step.at is not None:
        await clock.sleep_until(actor.result.arrived_at + clock.scaled(step.at))
    elif step.after is not None:
        name = step.after
        await _until(lambda: _happened(actor, name, 1), None)


async def _perform(actor: Actor, step: Step) -> None:
    if isinstance(step, RepeatStep):
        await _repeat(actor, step)
    else:
        started = actor.run.clock.now()
        try:
            await _ACTIONS[type(step)](actor, step)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not isinstance(step, UNTIMED):
                actor.record(step.do, started, ok=False)
            message = str(exc) if isinstance(exc, StepFailed) else describe(exc)
            actor.error(step.id or step.do, message)
        else:
            if not isinstance(step, UNTIMED):
                actor.record(step.do, started, ok=True)
    if step.id is not None:
        actor.done.add(step.id)


async def _repeat(actor: Actor, step: RepeatStep) -> None:
    """`count` rounds, or rounds until `duration` has passed (checked before each round)."""
    clock = actor.run.clock
    deadline = clock.now() + clock.scaled(step.duration) if step.duration is not None else None
    done = 0
    while (step.count is None or done < step.count) and (
        deadline is None or clock.now() < deadline
    ):
        before = len(actor.result.steps)
        await _run(actor, step.steps)
        done += 1
        records = actor.result.steps[before:]
        if records and not any(record.ok for record in records):
            # Nothing worked (not registered, conference gone): more rounds would only
            # pile up the same errors as fast as the loop can go.
            actor.error(step.id or "repeat", f"repeat stopped: every step of round {done} failed")
            return
        await asyncio.sleep(0)


# --- waiting ---------------------------------------------------------------------------------


async def _until(condition: Callable[[], bool], within: float | None) -> bool:
    """Whether `condition` came true within `within` seconds (None: wait for ever)."""
    deadline = None if within is None else time.monotonic() + within
    while not condition():
        if deadline is not None and time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL)
    return True


def _happened(actor: Actor, name: str, count: int) -> bool:
    """`name` is a step id of this participant, `group.step` of another in its call, or an
    event type heard `count` times since arrival (a step id wins over an event type)."""
    if name in _own_ids(actor):
        return name in actor.done
    owner, dot, step_id = name.partition(".")
    if dot and not EVENT_TYPE.match(name):
        return any(
            other.group.name == owner and step_id in other.done
            for other in actor.run.roster.peers(actor)
        )
    return sum(1 for _, kind in actor.heard if kind == name) >= count


def _own_ids(actor: Actor) -> set[str]:
    found: set[str] = set()
    pending = list(actor.group.timeline or [])
    while pending:
        step = pending.pop()
        if step.id is not None:
            found.add(step.id)
        if isinstance(step, RepeatStep):
            pending.extend(step.steps)
    return found


def _condition(actor: Actor, name: str, count: int) -> Callable[[], bool]:
    match name:
        case "everyone_joined":
            return lambda: actor.joined and all(o.joined for o in actor.run.roster.peers(actor))
        case "receiving_every_publisher":
            return lambda: _receiving_all(actor)
        case "snapshot_acquired":
            return lambda: actor.snapshots_acquired >= actor.snapshots_waited + count
    raise ValueError(f"unknown condition {name!r}")


def _receiving_all(actor: Actor) -> bool:
    """Frames arrive from every stream the participant is to view in its call now, and
    there is at least one (waiting for it is waiting for media, not for nothing)."""
    if not actor.joined:
        return False
    streams = [
        stream_id
        for other in actor.run.roster.peers(actor)
        if other.group.name in actor.targets
        for stream_id in other.publishing()
    ]
    return bool(streams) and all(actor.receiving(stream_id) for stream_id in streams)


async def _wait_for(actor: Actor, step: WaitForStep) -> None:
    if step.event is not None:
        event = step.event
        held = await _until(lambda: _happened(actor, event, step.count), step.timeout)
        what = f"{step.count} x {event}" if step.count > 1 else event
    else:
        assert step.condition is not None
        held = await _until(_condition(actor, step.condition, step.count), step.timeout)
        what = step.condition
        if held and step.condition == "snapshot_acquired":
            actor.snapshots_waited += step.count
    if not held:
        raise StepFailed(f"waited {step.timeout:g} s for {what}: it did not happen")


async def _sleep(actor: Actor, step: SleepStep) -> None:
    await asyncio.sleep(actor.run.clock.scaled(step.duration))


async def _think(actor: Actor, step: ThinkStep) -> None:
    await asyncio.sleep(actor.run.clock.scaled(actor.run.rng.uniform(step.min, step.max)))


# --- the actions -----------------------------------------------------------------------------


async def _register(actor: Actor, step: RegisterStep) -> None:
    await actor.register(step.keep_alive)


async def _unregister(actor: Actor, step: UnregisterStep) -> None:
    await actor.unregister()


async def _join(actor: Actor, step: JoinStep) -> None:
    await actor.join(step.conference)


async def _leave(actor: Actor, step: LeaveStep) -> None:
    await actor.leave()


async def _publish(actor: Actor, step: PublishStep) -> None:
    await actor.publish(step.streams)


async def _unpublish(actor: Actor, step: UnpublishStep) -> None:
    await actor.unpublish(step.streams)


async def _view(actor: Actor, step: ViewStep) -> None:
    await actor.view(step.of)


async def _stop_view(actor: Actor, step: StopViewStep) -> None:
    await actor.stop_view(step.of)


async def _mute(actor: Actor, step: MuteStep | UnmuteStep) -> None:
    """As a browser: the local track sends black or silence, and the others are told with
    conference metadata `TRACK_MUTED/{media}/{streamId}` (PROTOCOL.md, 9)."""
    unmute = isinstance(step, UnmuteStep)
    stream_ids = actor.stream_ids(step.streams)
    actor.mute(step.streams, step.media, muted=not unmute)
    for stream_id in stream_ids:
        key = f"TRACK_MUTED/{step.media}/{stream_id}"
        await actor.set_metadata(key, "true", remove=unmute)


async def _metadata(actor: Actor, step: MetadataStep) -> None:
    if step.stream is not None:
        await actor.set_stream_metadata(step.stream, step.key, step.value, step.remove)
    else:
        await actor.set_metadata(step.key, step.value, step.remove)


async def _bitrate(actor: Actor, step: BitrateStep) -> None:
    await actor.set_bitrate(step.streams, step.bitrate)


Action = Callable[[Actor, Step], Awaitable[None]]

_ACTIONS: dict[type, Action] = {
    RegisterStep: _register,  # type: ignore[dict-item]
    UnregisterStep: _unregister,  # type: ignore[dict-item]
    JoinStep: _join,  # type: ignore[dict-item]
    LeaveStep: _leave,  # type: ignore[dict-item]
    PublishStep: _publish,  # type: ignore[dict-item]
    UnpublishStep: _unpublish,  # type: ignore[dict-item]
    ViewStep: _view,  # type: ignore[dict-item]
    StopViewStep: _stop_view,  # type: ignore[dict-item]
    MuteStep: _mute,  # type: ignore[dict-item]
    UnmuteStep: _mute,  # type: ignore[dict-item]
    MetadataStep: _metadata,  # type: ignore[dict-item]
    BitrateStep: _bitrate,  # type: ignore[dict-item]
    RequestSnapshotStep: run_requests.request_snapshot,  # type: ignore[dict-item]
    ApproveStep: run_requests.decide,  # type: ignore[dict-item]
    DiscardStep: run_requests.decide,  # type: ignore[dict-item]
    CameraRequestStep: run_requests.camera_request,  # type: ignore[dict-item]
    SendEventStep: run_requests.send_event,  # type: ignore[dict-item]
    RateStep: run_requests.rate,  # type: ignore[dict-item]
    CreateInteractionStep: run_requests.create_interaction,  # type: ignore[dict-item]
    UpdateInteractionStep: run_requests.update_interaction,  # type: ignore[dict-item]
    WaitForStep: _wait_for,  # type: ignore[dict-item]
    SleepStep: _sleep,  # type: ignore[dict-item]
    ThinkStep: _think,  # type: ignore[dict-item]
}
"""What each kind of step does; `repeat` is the executor's own."""
