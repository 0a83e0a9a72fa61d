"""`release_free_heap` (issue 16): freed C heap that glibc keeps goes back to the system."""

from __future__ import annotations

import asyncio
import ctypes
import gc
import platform
import weakref

import pytest

from agent.participant import heap
from agent.participant.drift import sample

glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")


@glibc
def test_freed_heap_that_glibc_keeps_is_returned() -> None:
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    blocks = [libc.malloc(1024) for _ in range(60_000)]  # ~60 MiB of small chunks, not mmap'd
    for block in blocks:
        ctypes.memset(block, 1, 1024)  # resident
    keep = blocks.pop()  # the top chunk stays in use, so free() alone cannot shrink the heap
    for block in blocks:
        libc.free(block)
    held = sample().rss_bytes
    assert heap.release_free_heap()
    released = held - sample().rss_bytes
    libc.free(keep)
    assert released > 30 * 2**20, f"only {released / 2**20:.1f} MiB returned"


@glibc
def test_a_periodic_trim_waits_for_its_interval() -> None:
    assert heap.release_free_heap()
    assert not heap.release_free_heap(unless_within=60.0), "trimmed again within the minute"
    assert heap.release_free_heap(), "a fault's trim does not wait"


class _Cycle:
    def __init__(self) -> None:
        self.me = self  # only a collection frees it, as with aiortc's peer connections


def _garbage() -> weakref.ref[_Cycle]:
    return weakref.ref(_Cycle())


async def test_after_a_fault_cyclic_garbage_is_freed_and_runs_coalesce() -> None:
    gc.disable()  # no automatic collection: only release_after_fault frees the cycles
    try:
        await asyncio.sleep(heap.AFTER_FAULT_SECONDS)  # past any earlier run's second
        first = _garbage()
        assert first() is not None
        heap.release_after_fault()
        await asyncio.sleep(0.1)
        assert first() is None, "a fault's garbage was not collected"
        second = _garbage()
        heap.release_after_fault()  # within the second: deferred to its end, not dropped
        heap.release_after_fault()
        await asyncio.sleep(0.1)
        assert second() is not None, "collected twice within AFTER_FAULT_SECONDS"
        await asyncio.sleep(heap.AFTER_FAULT_SECONDS)
        assert second() is None, "the deferred run did not come"
    finally:
        gc.enable()


async def test_garbage_still_held_at_the_first_run_goes_at_the_follow_up() -> None:
    """A dropped connection whose teardown still holds it when the fault's run comes is freed
    by the follow-up run, not left for Python's own full collection."""
    gc.disable()
    try:
        await asyncio.sleep(heap.AFTER_FAULT_SECONDS)
        held = _Cycle()  # still referenced when the fault's run comes
        late = weakref.ref(held)
        heap.release_after_fault()
        await asyncio.sleep(0.1)
        assert late() is not None
        del held  # the teardown lets go: garbage in a cycle now
        assert late() is not None
        await asyncio.sleep(heap.FOLLOW_UP_SECONDS + 0.5)
        assert late() is None, "the follow-up run did not collect it"
    finally:
        gc.enable()
