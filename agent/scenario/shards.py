"""Shards of one run: which participants and conferences a process of a spread run owns.

A run spread over N processes (worker processes, Ray tasks, or pods of a Kubernetes Indexed
Job given `--shard I/N`) runs the same scenario in each, and each keeps only its shard: the
runner asks `ConferenceDealer.ours(conference)` for every call of the plan. The processes that
spread a run live in `agent.load` and `agent.distributed`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ConferenceDealer", "Shard", "ShardError", "missing_shards", "parse_shard"]


class ShardError(ValueError):
    """A shard specification that cannot be (not I/N with 0 <= I < N)."""


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard `index` of `count` (0-based, as a Kubernetes Indexed Job numbers its pods)."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ShardError(f"shard {self.index}/{self.count}: need 0 <= I < N")

    def owns(self, ordinal: int) -> bool:
        """Whether the participant with this ordinal (0, 1, 2... over the whole run) is ours."""
        return ordinal % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


class ConferenceDealer:
    """Deals a run's conferences to shards: the unit is the conference, so the participants
    of one call always run in one process (views by group need the others of the call in
    the same roster). Conferences are numbered in the order the plan first names them,
    which is the same in every process of a run with a fixed `seed`."""

    def __init__(self, shard: Shard) -> None:
        self.shard = shard
        self._ordinals: dict[str, int] = {}

    def ours(self, conference: str) -> bool:
        ordinal = self._ordinals.setdefault(conference, len(self._ordinals))
        return self.shard.owns(ordinal)


def parse_shard(text: str) -> Shard:
    """ "I/N" (e.g. "0/4") as a `Shard`; ShardError with the reason otherwise."""
    index, slash, count = text.partition("/")
    if not slash:
        raise ShardError(f"shard {text!r}: expected I/N, e.g. 0/4")
    try:
        return Shard(int(index), int(count))
    except ValueError as exc:
        if isinstance(exc, ShardError):
            raise
        raise ShardError(f"shard {text!r}: I and N must be whole numbers") from None


def missing_shards(shards: list[str]) -> list[str]:
    """Shards of the run not among `shards` ("1/4"; ValueError if they disagree on how many)."""
    parsed = [parse_shard(shard) for shard in shards]
    counts = {shard.count for shard in parsed}
    if len(counts) > 1:
        raise ValueError(f"shards of runs split differently: {', '.join(shards)}")
    if not counts:
        return []
    count = counts.pop()
    have = {shard.index for shard in parsed}
    return [f"{index}/{count}" for index in range(count) if index not in have]
