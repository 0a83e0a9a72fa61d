"""Where a call's memory goes under faults (issue 16), in a minute: the time-compressed soak of
`tests/test_resume_soak.py` (`SoakCall`: platform in this process, 4 s keepalives, 20 s
tokens), `--rounds` rounds of its four faults back to back. After each round, once
`gc.collect()` ran: peer connections ever created and still alive (closed ones among them),
resident memory, and what `malloc_trim(0)` would give back (`--trim`: measured by trimming,
which changes what later rounds see). `--rounds 8` on two trees, alternated, gives the
per-fault figures in `benchmarks/RESULTS.md` (soak section).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import sys
import tempfile
import time
import weakref
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiortc import RTCPeerConnection

from agent.participant.drift import sample
from agent.webrtc import seams
from agent.webrtc.host_addresses import LOOPBACK, use_host_addresses
from tests.resume_support import SoakCall

created: list[weakref.ref[RTCPeerConnection]] = []
_init = RTCPeerConnection.__init__


def _counted_init(self: RTCPeerConnection, *args: object, **kwargs: object) -> None:
    _init(self, *args, **kwargs)  # type: ignore[arg-type]
    created.append(weakref.ref(self))


async def run(rounds: int, trim: bool) -> None:
    RTCPeerConnection.__init__ = _counted_init  # type: ignore[method-assign]
    seams.install()
    use_host_addresses(LOOPBACK)
    with tempfile.TemporaryDirectory() as tmp:
        soak = SoakCall(Path(tmp), {"access_token_ttl": 20, "long_poll_seconds": 1.0}, keep_alive=4)
        async with AsyncExitStack() as stack:
            await soak.start(stack)
            await soak.back("start", 45)
            started, first = time.monotonic(), 0
            base: Counter[str] = Counter()
            for round_ in range(rounds):
                for fault in soak.faults:
                    await fault()
                    await soak.back(fault.__name__, 45)
                await asyncio.sleep(1)
                gc.collect()
                alive = [pc for ref in created if (pc := ref()) is not None]
                closed = sum(pc.connectionState == "closed" for pc in alive)
                n_alive = len(alive)
                del alive
                rss = sample().rss_bytes
                line = (
                    f"round {round_} t {time.monotonic() - started:.0f}s: peer connections "
                    f"created {len(created)} alive {n_alive} (closed {closed}); "
                    f"rss {rss / 2**20:.1f} MiB"
                )
                if trim:
                    ctypes.CDLL("libc.so.6").malloc_trim(0)
                    line += f", after malloc_trim {sample().rss_bytes / 2**20:.1f} MiB"
                counts = Counter(type(o).__name__ for o in gc.get_objects())
                if round_ == 0:
                    base, first = counts, rss
                else:
                    grew = sorted(((k, counts[k] - base[k]) for k in counts), key=lambda x: -x[1])
                    line += (
                        f" (+{(rss - first) / 2**20:.1f} since round 0); objects grew {grew[:6]}"
                    )
                print(line, flush=True)
            await stack.aclose()
        await soak.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--trim", action="store_true", help="malloc_trim after each round")
    args = parser.parse_args()
    asyncio.run(run(args.rounds, args.trim))


if __name__ == "__main__":
    main()
