"""Many processes on one machine (or many machines): shards of one run, merged into one result.

One Python process tops out at one core for its event loop, so a run spreads its participants
over worker processes. Each worker runs the same job for its `Shard` (participants are dealt
round-robin by their ordinal, so every shard gets an even share of every group and phase),
starting at a wall-clock instant the coordinator chose, so the phases of all workers line up.
Workers send live snapshots while they run and their `RunResult` at the end; the coordinator
sums the snapshots for the live metrics endpoint and merges the results into the one result
a single-process run would have written (`merge_results`), checking that no participant is
counted twice.

`--shard I/N` is the same split for orchestrators that start the processes themselves
(a Kubernetes Indexed Job gives each pod its index): each writes its own result, and
`merge_results` over the N results is the run's.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from collections.abc import Awaitable, Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

from agent.distributed.stopping import (
    Stopped,
    ignore_terminal_interrupt,
    stop_process,
    take_back_cancel,
    until_stopped,
)
from agent.runtime import run_on_chosen_loop, tune_garbage_collection
from agent.scenario.live import LiveSnapshot, combine
from agent.scenario.results import ErrorRecord, ProcessHealth, RunResult
from agent.scenario.shards import ConferenceDealer, Shard, ShardError, parse_shard

__all__ = [
    "ConferenceDealer",
    "LiveSink",
    "Shard",
    "ShardError",
    "WorkerJob",
    "WorkerPool",
    "merge_outcomes",
    "merge_results",
    "parse_shard",
]

LiveSink = Callable[[LiveSnapshot], None]
WorkerJob = Callable[["Shard", LiveSink], Awaitable[RunResult]]
"""What each worker runs: a picklable callable (module-level function or `functools.partial`
of one) taking its shard and where to send live snapshots."""
START_MARGIN = 2.0
"""Seconds between choosing the common start and the start: time for workers to come up."""
STOP_TIMEOUT = 90.0
"""Seconds interrupted workers get to close their participants (the runner's own bound on
closing is 60 s) and send what they measured."""


def merge_results(results: Sequence[RunResult]) -> RunResult:
    """The shards' results as one run's: every participant once (ValueError if two shards
    report the same name), phases and times on the earliest shard's clock."""
    if not results:
        raise ValueError("no results to merge")
    scenarios = {r.scenario for r in results}
    if len(scenarios) > 1:
        raise ValueError(f"results of different scenarios: {sorted(scenarios)}")
    origin = min(r.started_at for r in results)
    participants = []
    seen: set[str] = set()
    phases: dict[str, Any] = {}
    errors = []
    health = []
    duration = 0.0
    for result in results:
        shift = (result.started_at - origin).total_seconds()
        duration = max(duration, shift + result.duration)
        for participant in result.participants:
            if participant.name in seen:
                raise ValueError(f"participant {participant.name} is in more than one shard")
            seen.add(participant.name)
            participants.append(_shifted(participant, shift))
        for phase in result.phases:
            start, end = phase.start + shift, phase.end + shift
            known = phases.get(phase.name)
            if known is not None:
                start, end = min(start, known.start), max(end, known.end)
            phases[phase.name] = phase.model_copy(update={"start": start, "end": end})
        errors += [e.model_copy(update={"t": e.t + shift}) for e in result.errors]
        health += [_health_shifted(h, shift) for h in result.health]
    participants.sort(key=lambda p: (p.arrived_at, p.group, p.index))
    return RunResult(
        scenario=results[0].scenario,
        started_at=origin,
        duration=duration,
        participants=participants,
        phases=sorted(phases.values(), key=lambda p: p.start),
        skipped_arrivals=sum(r.skipped_arrivals for r in results),
        interrupted=any(r.interrupted for r in results),
        errors=sorted(errors, key=lambda e: e.t),
        health=health,
    )


def merge_outcomes(outcomes: Sequence[RunResult | str], interrupted: bool = False) -> RunResult:
    """The workers' results as one run's; a str is a worker that sent none (why). Such a
    worker fails the run (RuntimeError naming every one), unless the run was interrupted and
    others did report: then their merged result, marked interrupted, names the missing ones,
    as a single-process run interrupted still reports what it measured."""
    results = [o for o in outcomes if isinstance(o, RunResult)]
    errors = [o for o in outcomes if isinstance(o, str)]
    if errors and not (interrupted and results):
        raise RuntimeError("; ".join(errors))
    merged = merge_results(results)
    if not interrupted:
        return merged
    records = [ErrorRecord(t=merged.duration, step="worker", message=e) for e in errors]
    return merged.model_copy(update={"errors": merged.errors + records, "interrupted": True})


def _shifted(participant: Any, shift: float) -> Any:
    """A participant's record with its times moved onto the merged run's clock."""
    if shift == 0:
        return participant
    data = participant.model_dump()
    for key in ("arrived_at", "joined_at", "left_at"):
        if data.get(key) is not None:
            data[key] += shift
    for stream in data["streams"]:
        for key in ("started_at", "ended_at"):
            if stream.get(key) is not None:
                stream[key] += shift
        for series in ("fps", "delay", "bitrate"):
            for sample in stream[series]:
                sample["t"] += shift
        for freeze in stream["freezes"]:
            freeze["start"] += shift
    for group in ("snapshots", "camera_requests", "steps", "errors", "viewing"):
        for record in data.get(group, []):
            record["t"] += shift
    for stay in data.get("joins", []):
        for key in ("joined_at", "left_at"):
            if stay.get(key) is not None:
                stay[key] += shift
    return type(participant).model_validate(data)


def _health_shifted(health: ProcessHealth, shift: float) -> ProcessHealth:
    """A process's health with its series moved onto the merged run's clock."""
    if shift == 0:
        return health
    return health.model_copy(
        update={
            series: [s.model_copy(update={"t": s.t + shift}) for s in getattr(health, series)]
            for series in ("cpu", "loop_lag")
        }
    )


# --- the pool ----------------------------------------------------------------------------------


def _worker_main(job: WorkerJob, shard: Shard, start_at: float, conn: Connection) -> None:
    """A worker process: wait for the common start, run the job, send live and the result."""

    def send(message: tuple[str, Any]) -> None:
        with contextlib.suppress(OSError):  # the coordinator is gone: nobody to tell
            conn.send(message)

    def live(snapshot: LiveSnapshot) -> None:
        send(("live", snapshot))

    async def main() -> RunResult:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        return await job(shard, live)

    ignore_terminal_interrupt()
    tune_garbage_collection()
    try:
        result = run_on_chosen_loop(until_stopped(main()))
        send(("result", result.model_dump_json()))
    except (KeyboardInterrupt, Stopped):
        send(("error", f"worker {shard} interrupted"))
    except Exception as exc:
        send(("error", f"worker {shard} failed: {type(exc).__name__}: {exc}"))
    finally:
        conn.close()


class WorkerPool:
    """Runs `job` in `count` processes, one shard each; `run()` returns the merged result.

    `live()` is a `LiveSource`: the sum of the workers' latest snapshots."""

    def __init__(self, job: WorkerJob, count: int) -> None:
        if count < 1:
            raise ValueError(f"workers must be >= 1, got {count}")
        self.job = job
        self.count = count
        self.latest: dict[int, LiveSnapshot] = {}
        self.errors: list[str] = []

    async def live(self) -> LiveSnapshot:
        return combine(list(self.latest.values()))

    async def run(self) -> RunResult:
        """Start every worker, wait for all, merge. A worker that fails makes the run fail
        (RuntimeError naming it) after the others finished: a merged report that silently
        lacks a shard would count participants that never ran as absent, not as failed.
        Cancelled (Ctrl-C), it stops every worker (`agent.distributed.stopping`), which
        closes its participants, and returns what they measured, marked interrupted."""
        context = multiprocessing.get_context("spawn")
        start_at = time.time() + START_MARGIN
        loop = asyncio.get_running_loop()
        processes = []
        outcomes: list[asyncio.Future[Any]] = []
        for index in range(self.count):
            ours, theirs = context.Pipe(duplex=False)
            process = context.Process(
                target=_worker_main,
                args=(self.job, Shard(index, self.count), start_at, theirs),
                name=f"auvious-worker-{index}",
            )
            process.start()
            theirs.close()
            processes.append(process)
            outcome: asyncio.Future[Any] = loop.create_future()
            outcomes.append(outcome)
            loop.add_reader(ours.fileno(), self._receive, index, ours, outcome)
        interrupted = False
        try:
            await asyncio.wait(outcomes)
        except asyncio.CancelledError:  # Ctrl-C: the workers close their participants
            interrupted = True
            take_back_cancel()
            for process in processes:
                stop_process(process)
            await asyncio.wait(outcomes, timeout=STOP_TIMEOUT)
        finally:
            for process in processes:
                await loop.run_in_executor(None, process.join, 30)
                if process.is_alive():
                    process.kill()
        collected: list[RunResult | str] = []
        for index, outcome in enumerate(outcomes):
            kind, payload = (
                outcome.result()
                if outcome.done()
                else ("error", f"worker {index}/{self.count} did not stop in {STOP_TIMEOUT:g} s")
            )
            if kind == "result":
                collected.append(RunResult.model_validate_json(payload))
            else:
                self.errors.append(str(payload))
                collected.append(str(payload))
        return merge_outcomes(collected, interrupted)

    def _receive(
        self, index: int, conn: Connection, outcome: asyncio.Future[tuple[str, Any]]
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            kind, payload = conn.recv()
        except (EOFError, OSError):
            kind, payload = "error", f"worker {index}/{self.count} exited without a result"
        if kind == "live":
            self.latest[index] = payload
            return
        loop.remove_reader(conn.fileno())
        conn.close()
        if not outcome.done():
            outcome.set_result((kind, payload))
