"""What a scenario will do, worked out before anything connects: when arrivals come, who
each participant is (name, templates rendered, data row, conference), and which steps it
runs. The runner executes this plan; keeping it apart makes it testable without a server."""

from __future__ import annotations

import math
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from agent.scenario.data import RowPicker
from agent.scenario.model import (
    JoinStep,
    ParticipantGroup,
    Phase,
    PublishStep,
    RegisterStep,
    Scenario,
    Step,
)
from agent.scenario.templating import TemplateContext, render

__all__ = [
    "Arrival",
    "ParticipantPlan",
    "Planner",
    "arrivals",
    "effective_timeline",
    "planned_duration",
]


@dataclass(frozen=True)
class Arrival:
    """One set of every participant group arriving at `t` seconds into the run."""

    number: int
    t: float
    phase: int | None = None
    phase_name: str | None = None
    max_concurrent: int | None = None


def _phase_offsets(phase: Phase) -> list[float]:
    """Arrival times within one phase, deterministic so runs are comparable.

    With a rate ramping linearly from r0 to r1 over d seconds, the expected number of
    arrivals by t is N(t) = r0 t + (r1 - r0) t² / 2d; the k-th arrival (from 0) comes when
    N(t) = k."""
    if phase.arrival_count is not None:
        step = phase.duration / phase.arrival_count if phase.arrival_count else 0.0
        return [i * step for i in range(phase.arrival_count)]
    if phase.arrival_rate is None or phase.duration <= 0:
        return []
    start = phase.arrival_rate
    end = phase.ramp_to if phase.ramp_to is not None else start
    a = (end - start) / (2 * phase.duration)
    total = start * phase.duration + a * phase.duration**2
    offsets = []
    k = 0
    while k < total - 1e-9:
        if abs(a) < 1e-12:
            t = k / start
        else:
            t = (-start + math.sqrt(max(start * start + 4 * a * k, 0.0))) / (2 * a)
        if t >= phase.duration:
            break
        offsets.append(t)
        k += 1
    return offsets


def arrivals(scenario: Scenario) -> list[Arrival]:
    """Every arrival of the run in time order; one at 0 when there are no phases."""
    if not scenario.phases:
        return [Arrival(0, 0.0)]
    found: list[Arrival] = []
    start = 0.0
    for number, phase in enumerate(scenario.phases):
        for offset in _phase_offsets(phase):
            found.append(
                Arrival(len(found), start + offset, number, phase.name, phase.max_concurrent)
            )
        start += phase.duration
    return found


def planned_duration(scenario: Scenario) -> float | None:
    """How long the run lasts by the file; None: until every timeline is done."""
    if scenario.phases:
        return math.fsum(phase.duration for phase in scenario.phases)
    return scenario.duration


def effective_timeline(group: ParticipantGroup) -> list[Step]:
    """The group's timeline, or the default: register, join (viewing as `view` says), and
    publish its streams; it then stays until the run ends, when the runner makes everyone
    still present leave and unregister."""
    if group.timeline is not None:
        return list(group.timeline)
    steps: list[Step] = [RegisterStep(do="register"), JoinStep(do="join")]
    if group.publish:
        steps.append(PublishStep(do="publish"))
    return steps


@dataclass(frozen=True)
class ParticipantPlan:
    """One participant, its templates rendered; `start` is seconds after its arrival."""

    name: str
    group: ParticipantGroup
    index: int
    arrival: Arrival
    start: float
    conference: str
    display_name: str | None
    ticket: str | None = field(repr=False)
    client_id: str | None
    context: TemplateContext = field(repr=False)
    steps: list[Step] = field(repr=False)

    @property
    def at(self) -> float:
        """Seconds into the run when this participant starts."""
        return self.arrival.t + self.start


class Planner:
    """Turns arrivals into participants, handing out CSV rows as the file says."""

    def __init__(
        self,
        scenario: Scenario,
        base: Path | None = None,
        env: Mapping[str, str] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.scenario = scenario
        self.base = base if base is not None else _base_of(scenario)
        self.env = dict(os.environ) if env is None else dict(env)
        self.rng = rng or random.Random(scenario.seed)
        self._pickers: dict[str, RowPicker | None] = {}

    def _picker(self, group: ParticipantGroup) -> RowPicker | None:
        if group.name not in self._pickers:
            source = group.data or self.scenario.data
            self._pickers[group.name] = (
                RowPicker.from_source(source, self.base, self.rng) if source else None
            )
        return self._pickers[group.name]

    def participants(self, arrival: Arrival) -> list[ParticipantPlan]:
        """Everyone who comes with `arrival`, in start order.

        Raises `TemplateError` when a template cannot be rendered (an unset `${env.X}`)."""
        plans = []
        for group in self.scenario.participants:
            picker = self._picker(group)
            for index in range(group.count):
                number = arrival.number * group.count + index
                context = TemplateContext(
                    index=index,
                    group=group.name,
                    arrival=arrival.number,
                    vars=self.scenario.vars,
                    row=picker.pick(number) if picker else None,
                    env=self.env,
                )
                plans.append(
                    ParticipantPlan(
                        name=context.name,
                        group=group,
                        index=index,
                        arrival=arrival,
                        start=group.start + index * group.stagger,
                        conference=render(group.conference, context),
                        display_name=_render(group.display_name, context),
                        ticket=_render(group.ticket, context),
                        client_id=_client_id(group, context),
                        context=context,
                        steps=effective_timeline(group),
                    )
                )
        return sorted(plans, key=lambda plan: plan.start)


def _render(template: str | None, context: TemplateContext) -> str | None:
    return None if template is None else render(template, context)


def _client_id(group: ParticipantGroup, context: TemplateContext) -> str | None:
    """The group's own client id (rendered, or read from its env variable), if it has one."""
    credentials = group.credentials
    if credentials is None:
        return None
    if credentials.client_id is not None:
        return render(credentials.client_id, context)
    if credentials.client_id_env is not None:
        return render(f"${{env.{credentials.client_id_env}}}", context)
    return None


def _base_of(scenario: Scenario) -> Path:
    return Path(scenario.path).parent if scenario.path else Path.cwd()
