"""What every scenario participant offers the steps, the runner and the others, whatever drives
it: an agent (`agent.scenario.run_actor.Actor`, on the participant core) or a Chromium page
(`agent.scenario.run_browser.BrowserActor`). Both implement `StepSurface` by composition, and
both keep their report through one `ParticipantRecord`."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import SecretStr

from agent.participant.records import describe
from agent.scenario.results import (
    ErrorRecord,
    ParticipantResult,
    Presence,
    StepRecord,
    StreamResult,
    ViewingChange,
)
from agent.scenario.run_platform import Login

if TYPE_CHECKING:
    from agent.scenario.model import ParticipantGroup
    from agent.scenario.plan import ParticipantPlan
    from agent.scenario.run_context import RunContext

__all__ = [
    "CLOSE_TIMEOUT",
    "ParticipantRecord",
    "StepFailed",
    "StepSurface",
    "group_login",
]

CLOSE_TIMEOUT = 20.0
"""Leaving and unregistering at the end gets this long before the participant gives up
waiting (its peer connections are closed locally in any case)."""


class StepFailed(RuntimeError):
    """A step that could not do what it says; the message goes to the report."""


class ParticipantRecord:
    """The report of one participant: its `ParticipantResult`, the steps it took, what it
    heard and which groups it viewed when. Agents and browsers keep it alike."""

    def __init__(self, run: RunContext, plan: ParticipantPlan, arrived_at: float) -> None:
        self.run = run
        self.result = ParticipantResult(
            name=plan.name,
            group=plan.group.name,
            index=plan.index,
            arrival=plan.arrival.number,
            conference=plan.conference,
            arrived_at=arrived_at,
        )
        self.done: set[str] = set()
        """Ids of the steps done (failed or not: `after` waits for them to happen)."""
        self.heard: list[tuple[float, str]] = []
        """(run time, event type) of the platform's events caused by others."""

    def step(self, kind: str, started: float, ok: bool) -> None:
        duration = max(0.0, self.run.clock.now() - started)
        self.result.steps.append(StepRecord(t=started, kind=kind, duration=duration, ok=ok))

    def error(self, step: str | None, message: str) -> None:
        self.result.errors.append(ErrorRecord(t=self.run.clock.now(), step=step, message=message))

    def joined(self, started: float, targets: set[str]) -> None:
        """A stay begins (`joins`), viewing `targets` from now on."""
        now = self.run.clock.now()
        self.result.joins.append(Presence(joined_at=now, join_time=now - started))
        if self.result.joined_at is None:
            self.result.joined_at = now
            self.result.join_time = now - started
        self.result.left_at = None
        self.viewing(targets)

    def left(self) -> None:
        self.result.left_at = self.run.clock.now()
        if self.result.joins:
            self.result.joins[-1].left_at = self.result.left_at

    def viewing(self, targets: set[str]) -> None:
        """Whom the participant views from now on, for the condition that every viewer
        received every publisher it viewed while both were there."""
        self.result.viewing.append(ViewingChange(t=self.run.clock.now(), groups=sorted(targets)))

    def stream(self, result: StreamResult) -> StreamResult:
        self.result.streams.append(result)
        return result

    def end_streams(self, results: list[StreamResult]) -> None:
        now = self.run.clock.now()
        for result in results:
            if result.ended_at is None:
                result.ended_at = now

    async def closing_step(self, kind: str, work: Coroutine[Any, Any, None]) -> None:
        """Leaving or unregistering at the end, recorded as if the timeline had the step."""
        started = self.run.clock.now()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await work
        except Exception as exc:
            self.step(kind, started, ok=False)
            self.error(kind, describe(exc))
        else:
            self.step(kind, started, ok=True)


def group_login(plan: ParticipantPlan) -> Login | None:
    """The group's own client credentials (agents and browsers alike); None: the run's."""
    group = plan.group
    creds = group.credentials
    if creds is None:
        return None
    client_id = plan.client_id
    if not client_id:
        raise StepFailed(f"no client id for group {group.name} (set {creds.client_id_env})")
    secret_env = creds.client_secret_env
    secret = plan.context.env.get(secret_env) if secret_env else None
    if not secret:
        raise StepFailed(
            f"no client secret for group {group.name}: set the environment variable "
            f"named by client_secret_env"
        )
    return Login(client_id, SecretStr(secret))


class StepSurface(Protocol):
    """One participant of a run as the steps, the runner and the other participants see it."""

    run: RunContext
    plan: ParticipantPlan
    record: ParticipantRecord
    present: bool
    targets: set[str]
    """Groups whose streams this participant views now (OTHERS: endpoints not ours)."""
    snapshots_acquired: int
    snapshots_waited: int

    @property
    def name(self) -> str: ...

    @property
    def group(self) -> ParticipantGroup: ...

    @property
    def result(self) -> ParticipantResult: ...

    @property
    def endpoint_id(self) -> str | None: ...

    @property
    def user_id(self) -> str | None: ...

    @property
    def registered(self) -> bool: ...

    @property
    def joined(self) -> bool: ...

    def peer_connection_count(self) -> int: ...

    def publishing(self) -> list[str]:
        """Ids of the streams this participant publishes now."""
        ...

    def viewed_streams(self) -> list[StreamResult]:
        """The records of the streams this participant views now."""
        ...

    def receiving(self, stream_id: str) -> bool:
        """Frames of this stream have arrived."""
        ...

    async def register(self, keep_alive: float) -> None: ...

    async def join(self, conference: str | None) -> None: ...

    async def publish(self, names: list[str] | None) -> None: ...

    async def leave(self) -> None: ...

    async def unregister(self) -> None: ...

    async def sample(self) -> None:
        """One sample of every stream (the run calls this about once a second)."""
        ...

    async def close(self) -> None:
        """Leave and unregister whatever state the participant is in; never raises."""
        ...
