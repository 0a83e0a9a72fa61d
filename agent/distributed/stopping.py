"""Stopping the workers of a spread run: once, by their coordinator, and cleanly.

A terminal's Ctrl-C reaches every process of the foreground group at once. Left alone, the
local platform would stop while the workers' participants still had to leave, and the
coordinator would exit without the report. So only the coordinator takes the Ctrl-C: workers
ignore SIGINT, and the coordinator sends each one `STOP_SIGNAL`, which cancels the worker's
job the way Ctrl-C cancels a single-process run (`run_scenario` then closes everyone and
returns its result marked interrupted). A worker whose coordinator is gone (killed, so it
could not stop anyone) stops itself rather than run on unattended.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Coroutine
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

__all__ = [
    "STOP_SIGNAL",
    "StopSwitch",
    "Stopped",
    "ignore_terminal_interrupt",
    "stop_process",
    "take_back_cancel",
    "until_stopped",
]

T = TypeVar("T")

STOP_SIGNAL = signal.SIGTERM
ORPHAN_CHECK_EVERY = 1.0
"""Seconds between two looks at whether the coordinator is still there."""


class Stopped(Exception):
    """The worker was stopped before its job could turn the stop into a partial result
    (it had not started its participants yet)."""


def ignore_terminal_interrupt() -> None:
    """In a worker, before its event loop starts: the terminal's Ctrl-C is the
    coordinator's to act on (`asyncio.run` then installs no SIGINT handler of its own)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class StopSwitch:
    """Stops one job from wherever the stop comes: `STOP_SIGNAL` (a worker process), the
    death of the coordinator, or `stop()` called from another thread (a Ray actor's stop
    call, served beside the running job)."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._requested = False

    async def run(
        self, work: Coroutine[Any, Any, T], *, on_signal: bool = False, parent: int | None = None
    ) -> T:
        """`work` until it ends or is stopped. A job that takes the cancellation and returns
        (as `run_scenario` does) returns normally; one cancelled before it could raises
        `Stopped`. `parent`: stop when this process is no longer our parent."""
        loop = asyncio.get_running_loop()
        task = loop.create_task(work)
        self._loop, self._task = loop, task
        if self._requested:
            task.cancel()
        if on_signal:
            loop.add_signal_handler(STOP_SIGNAL, task.cancel)
        watchdog = None if parent is None else loop.create_task(_cancel_when_orphaned(task, parent))
        try:
            return await task
        except asyncio.CancelledError:
            if task.cancelled() and not _cancelling():
                raise Stopped("stopped before it started") from None
            raise
        finally:
            if watchdog is not None:
                watchdog.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watchdog
            if on_signal:
                loop.remove_signal_handler(STOP_SIGNAL)

    def stop(self) -> None:
        """Thread-safe; before `run` started, the job is stopped as soon as it does."""
        self._requested = True
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed in between
                loop.call_soon_threadsafe(task.cancel)


async def until_stopped(work: Coroutine[Any, Any, T], parent: int | None = None) -> T:
    """In a worker process: `work`, stopped by `STOP_SIGNAL` or when the coordinator
    (`parent`, default our parent now) is gone."""
    return await StopSwitch().run(work, on_signal=True, parent=parent or os.getppid())


def stop_process(process: BaseProcess) -> None:
    """Ask a worker process to stop (nothing if it has already ended)."""
    if process.pid is not None and process.is_alive():
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, STOP_SIGNAL)


async def _cancel_when_orphaned(task: asyncio.Task[Any], parent: int) -> None:
    while not task.done():
        await asyncio.sleep(ORPHAN_CHECK_EVERY)
        if os.getppid() != parent:
            task.cancel()
            return


def take_back_cancel() -> None:
    """After catching the cancellation of a Ctrl-C: take it back, so the current task can
    go on awaiting what its workers measured (the report says interrupted)."""
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()


def _cancelling() -> bool:
    """Whether the task awaiting `until_stopped` was itself cancelled (that is not a stop)."""
    current = asyncio.current_task()
    return current is not None and current.cancelling() > 0
