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

__all__ = ["STOP_SIGNAL", "Stopped", "ignore_terminal_interrupt", "stop_process", "until_stopped"]

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


async def until_stopped(work: Coroutine[Any, Any, T], parent: int | None = None) -> T:
    """`work`, cancelled by `STOP_SIGNAL` or when the process `parent` is no longer this
    process's parent. A job that takes the cancellation and returns (as `run_scenario`
    does) returns normally; one cancelled before it could raises `Stopped`."""
    loop = asyncio.get_running_loop()
    task = loop.create_task(work)
    loop.add_signal_handler(STOP_SIGNAL, task.cancel)
    watchdog = loop.create_task(_cancel_when_orphaned(task, parent or os.getppid()))
    try:
        return await task
    except asyncio.CancelledError:
        if task.cancelled() and not _cancelling():
            raise Stopped("stopped before it started") from None
        raise
    finally:
        watchdog.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watchdog
        loop.remove_signal_handler(STOP_SIGNAL)


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


def _cancelling() -> bool:
    """Whether the task awaiting `until_stopped` was itself cancelled (that is not a stop)."""
    current = asyncio.current_task()
    return current is not None and current.cancelling() > 0
