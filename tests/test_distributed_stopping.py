"""StopSwitch: a stop from another thread, from `STOP_SIGNAL` or from the coordinator's
death cancels the job, which returns its partial result; a stop the job never saw is
`Stopped`; a cancellation of the caller itself is not a stop."""

from __future__ import annotations

import asyncio
import os
import signal
import threading

import pytest

from agent.distributed.stopping import STOP_SIGNAL, Stopped, StopSwitch

LIVENESS = 10.0


async def job(started: asyncio.Event) -> str:
    """Like `run_scenario`: runs until cancelled, then closes and returns what it has."""
    started.set()
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        task = asyncio.current_task()
        assert task is not None
        task.uncancel()
        await asyncio.sleep(0.05)  # closing takes a moment, and is not cut short
        return "partial"
    return "complete"


async def test_stop_from_another_thread_returns_the_partial_result() -> None:
    switch, started = StopSwitch(), asyncio.Event()
    running = asyncio.create_task(switch.run(job(started)))
    await asyncio.wait_for(started.wait(), LIVENESS)
    threading.Thread(target=switch.stop).start()  # as a Ray actor's stop call does
    assert await asyncio.wait_for(running, LIVENESS) == "partial"


async def test_a_stop_before_the_job_started_is_stopped() -> None:
    switch = StopSwitch()
    switch.stop()
    with pytest.raises(Stopped):
        await asyncio.wait_for(switch.run(asyncio.sleep(3600)), LIVENESS)


async def test_the_stop_signal_stops_the_job() -> None:
    started = asyncio.Event()
    running = asyncio.create_task(StopSwitch().run(job(started), on_signal=True))
    await asyncio.wait_for(started.wait(), LIVENESS)
    os.kill(os.getpid(), STOP_SIGNAL)  # the handler is ours while the job runs
    assert await asyncio.wait_for(running, LIVENESS) == "partial"
    assert signal.getsignal(STOP_SIGNAL) == signal.SIG_DFL  # and given back after


async def test_a_worker_whose_coordinator_is_gone_stops() -> None:
    started = asyncio.Event()
    # A "parent" that is not our parent: as when the coordinator died and we were adopted.
    gone = os.getppid() + 1_000_000
    running = asyncio.create_task(StopSwitch().run(job(started), parent=gone))
    assert await asyncio.wait_for(running, LIVENESS) == "partial"


async def test_cancelling_the_caller_is_not_a_stop() -> None:
    running = asyncio.create_task(StopSwitch().run(asyncio.sleep(3600)))
    await asyncio.sleep(0.05)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
