"""One plan for every process of a spread run.

Each worker (or shard) plans the whole run itself and keeps the conferences dealt to it, so
all must draw the same plan. A scenario's random choices (random CSV rows, which may name
the conference) come from its `seed`; without one, each process would draw its own and a
call could run in two workers or in none. So a spread run always has a seed: the scenario's
own, else one the coordinator draws for its workers, else (shards, which have no
coordinator) one derived from the scenario itself, the same in every shard."""

from __future__ import annotations

import hashlib

from agent.scenario.model import Scenario

__all__ = ["common_seed", "scenario_digest", "with_seed"]


def common_seed(scenario: Scenario) -> int:
    """The scenario's seed, else one every process reading the same scenario derives."""
    if scenario.seed is not None:
        return scenario.seed
    digest = hashlib.sha256(scenario.model_dump_json().encode()).digest()
    return int.from_bytes(digest[:4], "big")


def with_seed(scenario: Scenario, seed: int) -> Scenario:
    """The scenario with `seed` where it has none (its own seed always wins)."""
    if scenario.seed is not None:
        return scenario
    return scenario.model_copy(update={"seed": seed})


def scenario_digest(scenario: Scenario) -> str:
    """Which version of a scenario made a result: the same in every process of a run (they
    all draw with the run's seed), different for another file or another edit of it, so
    `merge` can refuse to mix them."""
    seeded = with_seed(scenario, common_seed(scenario))
    return hashlib.sha256(seeded.model_dump_json().encode()).hexdigest()[:16]
