"""Steps that wait: for an event, another step or a condition (`wait_for`), or for a while
(`sleep`, `think`). `after` waits the same way as `wait_for`."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable

from agent.scenario.model import RepeatStep, SleepStep, ThinkStep, WaitForStep
from agent.scenario.steps import action
from agent.scenario.surface import StepFailed, StepSurface

__all__ = ["happened", "until"]

POLL = 0.1
"""How often a wait looks again at what it waits for (conditions span participants)."""
EVENT_TYPE = re.compile(r"^[A-Z][A-Za-z0-9]*Event$")


async def until(condition: Callable[[], bool], within: float | None) -> bool:
    """Whether `condition` came true within `within` seconds (None: wait for ever)."""
    deadline = None if within is None else time.monotonic() + within
    while not condition():
        if deadline is not None and time.monotonic() >= deadline:
            return False
        await asyncio.sleep(POLL)
    return True


def happened(actor: StepSurface, name: str, count: int) -> bool:
    """`name` is a step id of this participant, `group.step` of another in its call, or an
    event type heard `count` times since arrival (a step id wins over an event type)."""
    if name in _own_ids(actor):
        return name in actor.record.done
    owner, dot, step_id = name.partition(".")
    if dot and not EVENT_TYPE.match(name):
        return any(
            other.group.name == owner and step_id in other.record.done
            for other in actor.run.roster.peers(actor)
        )
    return sum(1 for _, kind in actor.record.heard if kind == name) >= count


def _own_ids(actor: StepSurface) -> set[str]:
    found: set[str] = set()
    pending = list(actor.group.timeline or [])
    while pending:
        step = pending.pop()
        if step.id is not None:
            found.add(step.id)
        if isinstance(step, RepeatStep):
            pending.extend(step.steps)
    return found


def _condition(actor: StepSurface, name: str, count: int) -> Callable[[], bool]:
    match name:
        case "everyone_joined":
            return lambda: actor.joined and all(o.joined for o in actor.run.roster.peers(actor))
        case "receiving_every_publisher":
            return lambda: _receiving_all(actor)
        case "snapshot_acquired":
            return lambda: actor.snapshots_acquired >= actor.snapshots_waited + count
    raise ValueError(f"unknown condition {name!r}")


def _receiving_all(actor: StepSurface) -> bool:
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


@action(WaitForStep, browser=True)
async def _wait_for(actor: StepSurface, step: WaitForStep) -> None:
    if step.event is not None:
        event = step.event
        held = await until(lambda: happened(actor, event, step.count), step.timeout)
        what = f"{step.count} x {event}" if step.count > 1 else event
    else:
        assert step.condition is not None
        held = await until(_condition(actor, step.condition, step.count), step.timeout)
        what = step.condition
        if held and step.condition == "snapshot_acquired":
            actor.snapshots_waited += step.count
    if not held:
        raise StepFailed(f"waited {step.timeout:g} s for {what}: it did not happen")


@action(SleepStep, browser=True)
async def _sleep(actor: StepSurface, step: SleepStep) -> None:
    await asyncio.sleep(actor.run.clock.scaled(step.duration))


@action(ThinkStep, browser=True)
async def _think(actor: StepSurface, step: ThinkStep) -> None:
    await asyncio.sleep(actor.run.clock.scaled(actor.run.rng.uniform(step.min, step.max)))
