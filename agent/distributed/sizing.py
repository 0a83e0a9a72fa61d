"""How many workers a spread run gets when `--workers` is not given.

One per core (one event loop tops out at one core), but never more than the run has
conferences: the conference is the unit a worker takes (`ConferenceDealer`), so a worker
beyond that would run nobody. A one-call scenario thus stays in one process, with the
embedded platform, as before workers existed."""

from __future__ import annotations

import os

from agent.scenario.model import Scenario
from agent.scenario.plan import Planner, arrivals
from agent.scenario.templating import TemplateError

__all__ = ["conference_count", "default_workers"]


def conference_count(scenario: Scenario, seed: int) -> int:
    """The distinct conferences of the plan drawn with `seed` (as every worker draws it)."""
    planner = Planner(scenario.model_copy(update={"seed": seed}))
    conferences: set[str] = set()
    for arrival in arrivals(scenario):
        try:
            conferences.update(plan.conference for plan in planner.participants(arrival))
        except TemplateError:
            continue  # the run records it; it brings nobody
    return len(conferences)


def default_workers(scenario: Scenario, seed: int, cores: int | None = None) -> int:
    """One worker per core of this machine (`cores`), at most one per conference, at least 1."""
    available = cores if cores is not None else os.cpu_count() or 1
    return max(1, min(available, conference_count(scenario, seed)))
