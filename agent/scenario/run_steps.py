"""A participant's timeline: when each step runs (`at`, `after`, in order), repeats, and
which action performs it (the step table, `agent.scenario.steps`).

A step that fails is recorded (a failed `StepRecord` and an `ErrorRecord`) and the timeline
goes on: the next steps may still work, and the report shows each failure where it was."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from agent.participant.records import describe
from agent.scenario import steps
from agent.scenario.actions.waits import happened, until
from agent.scenario.model import RepeatStep, SleepStep, Step, ThinkStep
from agent.scenario.steps import action
from agent.scenario.surface import StepFailed, StepSurface

__all__ = ["live"]

UNTIMED = (SleepStep, ThinkStep, RepeatStep)
"""Pauses and containers are not steps that can fail, so they are not counted as steps."""


async def live(actor: StepSurface) -> None:
    """The participant's life from its arrival: its timeline, then (default timeline) stay.

    Waits for its own start time first; returns when its timeline is done."""
    steps.load()
    await actor.run.clock.sleep_until(actor.result.arrived_at)
    await _run(actor, actor.plan.steps)
    if actor.group.timeline is None:
        await asyncio.Event().wait()  # until the run ends and cancels it


async def _run(actor: StepSurface, timeline: Sequence[Step]) -> None:
    for step in timeline:
        await _trigger(actor, step)
        await _perform(actor, step)


async def _trigger(actor: StepSurface, step: Step) -> None:
    clock = actor.run.clock
    if step.at is not None:
        await clock.sleep_until(actor.result.arrived_at + clock.scaled(step.at))
    elif step.after is not None:
        name = step.after
        await until(lambda: happened(actor, name, 1), None)


async def _perform(actor: StepSurface, step: Step) -> None:
    record = actor.record
    started = actor.run.clock.now()
    try:
        row = steps.registered(type(step))
        if actor.group.kind == "browser" and not row.browser:  # `validate` refuses it first
            raise StepFailed(f"a browser participant cannot {step.do}")
        await row.action(actor, step)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        if not isinstance(step, UNTIMED):
            record.step(step.do, started, ok=False)
        message = str(exc) if isinstance(exc, StepFailed) else describe(exc)
        record.error(step.id or step.do, message)
    else:
        if not isinstance(step, UNTIMED):
            record.step(step.do, started, ok=True)
    if step.id is not None:
        record.done.add(step.id)


@action(RepeatStep, browser=True)
async def _repeat(actor: StepSurface, step: RepeatStep) -> None:
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
            actor.record.error(
                step.id or "repeat", f"repeat stopped: every step of round {done} failed"
            )
            return
        await asyncio.sleep(0)
