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

import gc

__all__ = ["FULL_COLLECTION_EVERY", "tune_garbage_collection"]

FULL_COLLECTION_EVERY = 100
"""Middle-generation collections between two full ones (CPython's default: 10)."""


def tune_garbage_collection() -> None:
    """Make full collections rarer in this process (idempotent); young ones are unchanged."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)
