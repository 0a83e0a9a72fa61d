"""Many processes: shards deal every participant to exactly one worker; a run over two worker
processes (real participants against the embedded platform) merges into one result that
counts each participant once; live snapshots of the workers add up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from agent.load import (
    LiveSnapshot,
    PairsJob,
    Shard,
    ShardError,
    WorkerPool,
    combine,
    merge_results,
    parse_shard,
)
from agent.scenario.results import ParticipantResult, PhaseRecord, RunResult, StreamDirection
from server.embedded import EmbeddedServer
from tests.platform_support import CLIENTS


def test_shards_deal_every_ordinal_to_exactly_one() -> None:
    shards = [Shard(i, 3) for i in range(3)]
    owners = [[s for s in shards if s.owns(n)] for n in range(100)]
    assert all(len(o) == 1 for o in owners)
    assert [sum(s.owns(n) for n in range(100)) for s in shards] == [34, 33, 33]


@pytest.mark.parametrize("text", ["3/3", "-1/2", "a/2", "1", "1/0", ""])
def test_bad_shards_say_why(text: str) -> None:
    with pytest.raises(ShardError, match="shard"):
        parse_shard(text)


def test_parse_shard() -> None:
    assert parse_shard("2/5") == Shard(2, 5) and str(Shard(2, 5)) == "2/5"


def result(started: datetime, *names: str, phase_start: float = 0.0) -> RunResult:
    return RunResult(
        scenario="s",
        started_at=started,
        duration=10.0,
        participants=[
            ParticipantResult(name=n, group="g", index=int(n[1:]), arrived_at=1.0) for n in names
        ],
        phases=[PhaseRecord(name="ramp", start=phase_start, end=phase_start + 5)],
    )


def test_merge_puts_shards_on_one_clock_and_rejects_duplicates() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    merged = merge_results([result(t0 + timedelta(seconds=2), "p1"), result(t0, "p0", "p2")])
    assert merged.started_at == t0
    assert [p.name for p in merged.participants] == ["p0", "p2", "p1"]
    assert merged.participants[2].arrived_at == pytest.approx(3.0)  # 1 s into a shard 2 s late
    assert merged.duration == pytest.approx(12.0)
    assert [(p.start, p.end) for p in merged.phases] == [(0.0, 7.0)]
    with pytest.raises(ValueError, match="p1 is in more than one shard"):
        merge_results([result(t0, "p1"), result(t0, "p1")])


def test_live_snapshots_add_up() -> None:
    a = LiveSnapshot(participants=2, streams_viewed=2, fps={"video": 30.0}, packets_lost=1)
    b = LiveSnapshot(participants=4, streams_viewed=6, fps={"video": 20.0}, errors=2)
    total = combine([a, b])
    assert (total.participants, total.streams_viewed, total.errors) == (6, 8, 2)
    assert total.fps["video"] == pytest.approx(22.5)
    assert total.packets_lost == 1


def test_the_coordinators_progress_runs_on_the_runs_clock() -> None:
    """Workers start a few seconds after the coordinator (spawned, importing): its progress
    line said `26.2s / 24s (0s left)` at the end of a 24 s run, the phase a step behind."""
    from agent.load.scenario_job import _progress

    a = LiveSnapshot(participants=2, elapsed=20.5, labels={"phase": "ramp"})
    b = LiveSnapshot(participants=2, elapsed=20.0)
    assert combine([a, b]).elapsed == 20.5
    line = _progress(combine([a, b]), 24.0).line()
    assert line.startswith(" 20.5s / 24s (4s left)  phase ramp"), line
    assert _progress(LiveSnapshot(), 24.0).line().startswith("  0.0s / 24s"), "not started"


async def test_two_workers_run_a_pairs_job_and_merge_it(server: EmbeddedServer) -> None:
    job = PairsJob(
        server.base_url,
        "agent1",
        SecretStr(CLIENTS["agent1"][1]),
        participants=4,
        seconds=3.0,
        width=160,
        height=90,
        fps=15,
        video_bitrate=150_000,
    )
    pool = WorkerPool(job, 2)
    merged = await pool.run()
    names = [p.name for p in merged.participants]
    assert sorted(names) == ["p0", "p1", "p2", "p3"]  # each exactly once
    for participant in merged.participants:
        assert participant.errors == [] and participant.join_time is not None
        directions = sorted(s.direction for s in participant.streams)
        assert directions == [StreamDirection.PUBLISH, StreamDirection.VIEW]
        viewed = next(s for s in participant.streams if s.direction is StreamDirection.VIEW)
        assert viewed.frames > 0
    # Each worker ran one pair: the conferences differ by shard, and both reported live.
    assert len({p.conference for p in merged.participants}) == 2
    assert sorted(pool.latest) == [0, 1]
    live = await pool.live()
    assert live.participants == 4 and live.streams_viewed == 4
