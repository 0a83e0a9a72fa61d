"""What a long run keeps between faults (issue 16), for `bench_soak.py --tracemalloc`.

Resident memory alone cannot tell a leak from the allocator keeping freed pages, so after each
fault the probe collects garbage, trims the C heap (what remains resident is held), and then
compares with the previous fault and with the first: Python allocations by traceback
(`tracemalloc`, which sees only Python's allocator, not libvpx/ffmpeg/OpenSSL), live objects by
type, asyncio tasks and scheduled handles, and the sizes of the dicts and lists of the
participants that could be keyed by ids a resume changes.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import tracemalloc
from collections import Counter
from collections.abc import Iterable
from typing import Any

from aiortc import RTCPeerConnection

from agent.participant import Participant
from agent.participant.drift import sample

__all__ = ["HeapProbe"]


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _malloc_heap() -> tuple[int, int, int]:
    """glibc's heap over all arenas: bytes in use, bytes free but kept, bytes mmapped."""
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    info = libc.mallinfo2()
    return info.uordblks, info.fordblks, info.hblkhd


def _containers(owner: object, prefix: str, depth: int = 2) -> Iterable[tuple[str, int]]:
    """(path, length) of every dict/list/set/deque attribute of `owner`, `depth` levels down."""
    attrs: dict[str, Any] = {}
    with_dict = getattr(owner, "__dict__", None)
    if isinstance(with_dict, dict):
        attrs.update(with_dict)
    for slot in getattr(type(owner), "__slots__", ()):
        if hasattr(owner, slot):
            attrs[slot] = getattr(owner, slot)
    for name, value in attrs.items():
        path = f"{prefix}.{name}"
        if isinstance(value, dict | list | set | tuple) or type(value).__name__ == "deque":
            yield path, len(value)
        elif depth > 0 and type(value).__module__.startswith(("agent.", "aiohttp", "aiomqtt")):
            yield from _containers(value, path, depth - 1)


def _resident_by_mapping() -> str:
    """Resident MiB of this process by kind of mapping (from /proc/self/smaps): glibc's main
    heap (brk), its thread arenas (anonymous, 64 MiB-aligned), other anonymous memory (Python's
    object arenas, thread stacks, large mmaps), files."""
    kinds: Counter[str] = Counter()
    kind = ""
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            head = line.split()
            if "-" in head[0] and not head[0].endswith(":"):
                start = int(head[0].split("-")[0], 16)
                name = head[5] if len(head) > 5 else ""
                if name == "[heap]":
                    kind = "brk heap"
                elif name.startswith("/"):
                    kind = "files"
                elif name:
                    kind = "other"
                else:
                    kind = "thread arenas" if start % (64 << 20) == 0 else "anonymous"
            elif head[0] == "Rss:":
                kinds[kind] += int(head[1])
    return ", ".join(f"{k} {v / 1024:.1f}" for k, v in sorted(kinds.items())) + " MiB"


class HeapProbe:
    """Compare what the process holds after each fault; `frames` deep tracebacks (0: no
    tracemalloc, which costs CPU and memory of its own)."""

    def __init__(self, people: list[Participant], frames: int = 8, top: int = 8) -> None:
        self.people = people
        self.top = top
        if frames:
            tracemalloc.start(frames)
        self.first: tuple[Counter[str], tracemalloc.Snapshot | None] | None = None
        self.previous: tuple[Counter[str], tracemalloc.Snapshot | None] | None = None
        self.first_sizes: dict[str, int] = {}
        self.first_rss = 0

    def take(self, label: str) -> None:
        """Print what grew since the previous call and since the first."""
        held = sum(isinstance(o, RTCPeerConnection) for o in gc.get_objects())
        trim = ctypes.CDLL("libc.so.6").malloc_trim
        rss_held = sample().rss_bytes
        trim(0)
        rss_trimmed = sample().rss_bytes
        unreachable = gc.collect()
        trim(0)
        rss = sample().rss_bytes
        print(
            f"  probe {label}: {held} peer connections held before gc.collect(), rss "
            f"{rss_held / 2**20:.1f} MiB, after malloc_trim(0) {rss_trimmed / 2**20:.1f} MiB; "
            f"gc.collect() found {unreachable} unreachable objects, after it and another trim "
            f"{rss / 2**20:.1f} MiB"
        )
        counts = Counter(type(o).__name__ for o in gc.get_objects())
        scheduled = len(getattr(asyncio.get_running_loop(), "_scheduled", ()))
        sizes = dict(c for i, p in enumerate(self.people) for c in _containers(p, f"p{i}"))
        used, kept, mapped = _malloc_heap()
        if self.first is None:
            self.first_sizes, self.first_rss = sizes, rss
        print(
            f"  probe {label}: rss after trim {rss / 2**20:.1f} MiB "
            f"({(rss - self.first_rss) / 2**20:+.2f} since first), malloc in use "
            f"{used / 2**20:.1f} MiB, free kept {kept / 2**20:.1f} MiB, mmapped "
            f"{mapped / 2**20:.1f} MiB; gc objects {sum(counts.values())}, tasks "
            f"{len(asyncio.all_tasks())}, scheduled handles {scheduled}",
            flush=True,
        )
        print(f"    resident by mapping: {_resident_by_mapping()}")
        snap = None
        if tracemalloc.is_tracing():
            snap = tracemalloc.take_snapshot().filter_traces(
                (tracemalloc.Filter(False, tracemalloc.__file__),)
            )
            print(
                f"    traced {sum(s.size for s in snap.statistics('filename')) / 2**20:.2f} MiB "
                f"(tracemalloc's own {tracemalloc.get_tracemalloc_memory() / 2**20:.1f} MiB)"
            )
        if self.first is not None and self.previous is not None:
            for what, (then_counts, then) in (
                ("since previous", self.previous),
                ("since first", self.first),
            ):
                self._diff(what, counts, then_counts, snap, then)
            grew = {k: v - self.first_sizes.get(k, 0) for k, v in sizes.items()}
            grown = sorted(((k, v) for k, v in grew.items() if v), key=lambda x: -x[1])
            print(f"    containers grown since first: {grown[:12]}")
        self.previous = (counts, snap)
        self.first = self.first or self.previous

    def _diff(
        self,
        what: str,
        counts: Counter[str],
        before: Counter[str],
        now: tracemalloc.Snapshot | None,
        then: tracemalloc.Snapshot | None,
    ) -> None:
        objects = sorted(((k, n - before[k]) for k, n in counts.items()), key=lambda x: -x[1])
        print(f"    {what}: objects grew {[o for o in objects if o[1] > 0][:10]}")
        if now is None or then is None:
            return
        stats = now.compare_to(then, "traceback")
        total = sum(s.size_diff for s in stats)
        print(f"      traced {total / 1024:+.0f} KiB; top sites:")
        for stat in stats[: self.top]:
            frames = stat.traceback.format(limit=4, most_recent_first=True)
            where = " <- ".join(line.strip() for line in frames if not line.startswith("    "))
            print(f"      {stat.size_diff / 1024:+.1f} KiB {stat.count_diff:+d} blocks: {where}")
