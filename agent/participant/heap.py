"""Give the C heap's free memory back to the system after a fault (issue 16).

A resume or a replaced peer connection frees what the old connection held: VP8 encoder and
decoder contexts (libvpx), frames (ffmpeg), DTLS state (OpenSSL). Those are freed, yet glibc
keeps the pages in its arenas, so a long call with faults sees its resident memory climb
though nothing is alive: measured in the time-compressed soak, every Python object and every
peer connection was collected after each fault, while the process kept 7-9 MiB of free heap
that one `malloc_trim(0)` returned to the system (`benchmarks/RESULTS.md`, soak section).

Those connections are not freed when a fault drops them, though: aiortc's peer connections sit
in reference cycles, so a closed one (its codecs, buffers and DTLS state) waits for Python's
next full collection, which with ~100k live objects comes only every few faults (the soak
against a real `serve` held 8 peer connections, 4 of them closed, after each restart). A trim
before that returns nothing of theirs. So after a fault `release_after_fault()` collects the
cyclic garbage first, then trims; a request within `AFTER_FAULT_SECONDS` of the last one is
not dropped but runs at the end of that second, so the last of a crowd's resumes is covered too.

The same holds without faults: in a steady call resident memory wandered up to 8 MiB above
its start, all of it free heap a trim returned. So after each fault's clean-up the participant
asks glibc to trim (at most once a second per process, `AFTER_FAULT_SECONDS`), and its
keepalive loop does too, at most once a minute per process
(`PERIODIC_SECONDS`, however many participants share it). ctypes releases the GIL for the
call, so encoder threads go on meanwhile. A no-op elsewhere: on musl, macOS or Windows
`release_free_heap()` returns False and does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import gc
import logging
import platform
import time
from collections.abc import Callable

__all__ = [
    "AFTER_FAULT_SECONDS",
    "FOLLOW_UP_SECONDS",
    "PERIODIC_SECONDS",
    "release_after_fault",
    "release_free_heap",
]

AFTER_FAULT_SECONDS = 1.0
"""The least time between two trims after faults: a platform restart resumes every participant
of a crowd at once, and one trim a second returns their memory as well as hundreds would,
without blocking the event loop hundreds of times."""

FOLLOW_UP_SECONDS = 3.0
"""After a fault's run, one more collection this much later: a dropped connection whose
teardown (DTLS, ICE, the codecs' threads) still held it at the first run is garbage by then,
and would otherwise wait for Python's own full collection (seen on a loaded CPU)."""

PERIODIC_SECONDS = 60.0
"""The least time between two trims asked for `unless_within` it (the keepalive loop's)."""

log = logging.getLogger(__name__)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's `malloc_trim`, or None where the C library is not glibc."""
    if platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError) as exc:  # an unusual build: say so once, go on
        log.debug("malloc_trim unavailable: %s", exc)
        return None
    trim.argtypes = [ctypes.c_size_t]  # type: ignore[attr-defined]
    trim.restype = ctypes.c_int  # type: ignore[attr-defined]
    return trim


_last_trim = -float("inf")


def release_free_heap(*, unless_within: float = 0.0) -> bool:
    """Return the C heap's free pages to the system, unless a trim ran in the last
    `unless_within` seconds; whether it trimmed."""
    global _last_trim
    trim = _malloc_trim()
    now = time.monotonic()
    if trim is None or now - _last_trim < unless_within:
        return False
    _last_trim = now
    trim(0)
    return True


_due: tuple[asyncio.AbstractEventLoop, asyncio.TimerHandle] | None = None
"""The scheduled `release_after_fault` run, if one is due, and its loop."""
_last_run = -float("inf")
_follow_up: asyncio.TimerHandle | None = None
"""The one collection due `FOLLOW_UP_SECONDS` after the last run, if any."""


def release_after_fault() -> None:
    """Collect cyclic garbage (the dropped peer connections), then trim: at the next turn of
    the event loop (the caller's frames let go of the old objects by then), or at the end of
    `AFTER_FAULT_SECONDS` after the last run; one run covers every request meanwhile."""
    global _due
    if _due is not None and not _due[0].is_closed() and not _due[1].cancelled():
        return  # a run is due, and will see this fault's garbage too
    loop = asyncio.get_running_loop()
    wait = max(0.0, _last_run + AFTER_FAULT_SECONDS - time.monotonic())
    _due = loop, loop.call_later(wait, _collect_and_trim)


def _collect_and_trim() -> None:
    global _due, _last_run, _follow_up
    loop = _due[0] if _due is not None else None
    _due, _last_run = None, time.monotonic()
    gc.collect()
    release_free_heap()
    if _follow_up is not None:
        _follow_up.cancel()
    _follow_up = None if loop is None else loop.call_later(FOLLOW_UP_SECONDS, _follow_up_run)


def _follow_up_run() -> None:
    global _follow_up
    _follow_up = None
    gc.collect()
    release_free_heap()
