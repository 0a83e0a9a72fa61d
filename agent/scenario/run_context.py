"""What every participant of a run shares: the scenario, the platform, the clock, and the
roster of the others (to tell whose stream an endpoint publishes, or who joined)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from agent.participant import Reception, RetryPolicy, ViewPolicy
from agent.participant.sources import MediaSources
from agent.scenario.model import ParticipantGroup, Scenario
from agent.scenario.run_clock import RunClock
from agent.scenario.run_platform import RunPlatform

if TYPE_CHECKING:
    from agent.scenario.surface import StepSurface

__all__ = ["OTHERS", "Roster", "RunContext"]

OTHERS = "*"
"""The view target for endpoints the run did not create (people, other tools): only `all`
views them."""


class Roster:
    """Every participant the run has created so far, in arrival order."""

    def __init__(self) -> None:
        self.actors: list[StepSurface] = []

    def add(self, actor: StepSurface) -> None:
        self.actors.append(actor)

    def by_endpoint(self, endpoint_id: str | None) -> StepSurface | None:
        if endpoint_id is None:
            return None
        return next((a for a in self.actors if a.endpoint_id == endpoint_id), None)

    def group_of(self, endpoint_id: str | None) -> str:
        actor = self.by_endpoint(endpoint_id)
        return actor.group.name if actor is not None else OTHERS

    def peers(self, actor: StepSurface) -> Iterator[StepSurface]:
        """The others of `actor`'s arrival and conference (its call)."""
        for other in self.actors:
            if (
                other is not actor
                and other.plan.conference == actor.plan.conference
                and other.plan.arrival.number == actor.plan.arrival.number
            ):
                yield other

    def present(self) -> int:
        """Participants arrived and not yet done: what `max_concurrent` limits."""
        return sum(1 for actor in self.actors if actor.present)


@dataclass
class RunContext:
    scenario: Scenario
    base: Path
    """The scenario file's folder: relative paths in the file resolve against it."""
    platform: RunPlatform
    clock: RunClock
    rng: random.Random
    report_dir: Path | None = None
    roster: Roster = field(default_factory=Roster)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    media: MediaSources = field(default_factory=MediaSources)
    """The sources and shared encoders every participant of this process publishes from."""

    @property
    def group_names(self) -> list[str]:
        return [group.name for group in self.scenario.participants]

    def view_policy(self, group: ParticipantGroup, record_dir: Path | None) -> ViewPolicy:
        """What the participant decodes of what it views: the group's `receive` (sampled
        video by default when the scenario expects a delay; recording decodes everything it
        records). Which streams it views is the actor's view filter
        (the groups to view change over the timeline)."""
        if record_dir is not None and group.record is not None:
            return ViewPolicy.measuring(record_dir=record_dir, record_kinds=group.record.kinds)
        receive = self.scenario.receive(group)
        return ViewPolicy(
            video=Reception(receive.video),
            audio=Reception(receive.audio),
            sample_interval=receive.sample_interval,
        )
