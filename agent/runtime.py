"""Process settings for carrying many participants in one process.

CPython runs a full garbage collection (every object the process tracks) after every 10
collections of the middle generation. With a hundred peer connections in a process, each took
70-130 ms, four or five times a minute of a join storm, with the event loop stopped: every
arrival in flight then waits, and so does every packet. Measured with
`benchmarks/bench_join_storm.py --count 100 --rate 10`, alternating runs on the idle VM:
first-frame p95 0.377-1.218 s as CPython ships (3 of 13 runs over 1 s), 0.331-0.492 s with
full collections ten times rarer (8 runs). Young objects are still collected as often as
before; only cyclic garbage that has survived two collections waits longer.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = [
    "EVENT_LOOPS",
    "EVENT_LOOP_ENV",
    "FULL_COLLECTION_EVERY",
    "loop_factory",
    "run_on_chosen_loop",
    "tune_garbage_collection",
]

T = TypeVar("T")
EVENT_LOOP_ENV = "AUVIOUS_EVENT_LOOP"
"""Which event loop the participants' processes run: "asyncio" (the default) or "uvloop"
(`pip install uvloop`); worker processes started later follow it."""
EVENT_LOOPS = ("asyncio", "uvloop")

FULL_COLLECTION_EVERY = 100
"""Middle-generation collections between two full ones (CPython's default: 10)."""


def tune_garbage_collection() -> None:
    """Make full collections rarer in this process (idempotent); young ones are unchanged."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop `AUVIOUS_EVENT_LOOP` names (None: asyncio's own); ValueError for an
    unknown name or a uvloop that is not installed."""
    name = os.environ.get(EVENT_LOOP_ENV, "").strip() or "asyncio"
    if name not in EVENT_LOOPS:
        raise ValueError(f"{EVENT_LOOP_ENV}={name!r}: choose one of {', '.join(EVENT_LOOPS)}")
    if name == "asyncio":
        return None
    try:
        uvloop = importlib.import_module("uvloop")  # optional: the `uvloop` extra
    except ImportError:
        raise ValueError(
            f"{EVENT_LOOP_ENV}=uvloop: uvloop is not installed (pip install uvloop)"
        ) from None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run_on_chosen_loop(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on the process's chosen event loop (`AUVIOUS_EVENT_LOOP`)."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
