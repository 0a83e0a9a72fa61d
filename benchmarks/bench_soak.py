"""Soak (issue 16): a call of two participants for `--minutes`, a fault every `--every`
seconds in turn (the platform restarted on its port and data directory and unreachable for
`--outage` seconds, the event channel cut for `--channel-cut` seconds, the registration lost,
a peer connection killed), with `--token-ttl` second access tokens renewed throughout. After
each fault both participants must publish and receive fresh video again; the figures are the
recovery times by fault and the drift of the process (memory slope, descriptors, threads,
tasks, peer connections) sampled after every recovery. The platform runs in this process
(`tests.resume_support.SoakCall`, as `tests/test_resume_soak.py`).

    .venv/bin/python benchmarks/bench_soak.py --minutes 30 --every 60 --token-ttl 60
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import AsyncExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.participant.drift import DriftWatcher
from agent.scenario.metrics import percentile
from agent.webrtc import seams
from agent.webrtc.host_addresses import LOOPBACK, use_host_addresses
from tests.resume_support import SoakCall

BOUND = 120.0


async def run(args: argparse.Namespace) -> None:
    seams.install()
    use_host_addresses(LOOPBACK, subprocesses=True)
    settings = {"access_token_ttl": args.token_ttl, "long_poll_seconds": 1.0}
    recoveries: dict[str, list[float]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        soak = SoakCall(
            Path(tmp),
            settings,
            keep_alive=args.keep_alive,
            outage=args.outage,
            channel_cut=args.channel_cut,
        )
        try:
            async with AsyncExitStack() as stack:
                people = await soak.start(stack)
                renewals: list[object] = []
                people[0].auth.add_listener(renewals.append)
                await soak.back("start", BOUND)
                drift = DriftWatcher(lambda: sum(p.peer_connection_count() for p in people))
                drift.take()
                started = time.monotonic()
                faults = soak.faults
                n = 0
                while time.monotonic() - started < args.minutes * 60:
                    await asyncio.sleep(args.every)
                    fault = faults[n % len(faults)]
                    n += 1
                    began = time.monotonic()
                    await fault()
                    took = await soak.back(fault.__name__, BOUND)
                    recoveries[fault.__name__].append(took)
                    now = drift.take()
                    print(
                        f"{(time.monotonic() - started) / 60:5.1f} min {fault.__name__}: back in "
                        f"{took:.2f} s after it ended ({time.monotonic() - began:.1f} s in all); "
                        f"pcs {now.peer_connections}, fds {now.fds}, threads {now.threads}, "
                        f"tasks {now.tasks}, rss {now.rss_bytes / 2**20:.0f} MiB",
                        flush=True,
                    )
                hours = (time.monotonic() - started) / 3600
                print(f"ran {hours * 60:.1f} min, {n} faults, {len(renewals)} token renewals")
                for name, values in recoveries.items():
                    print(
                        f"  {name}: p50 {percentile(values, 50):.2f} s, p95 "
                        f"{percentile(values, 95):.2f} s, max {max(values):.2f} s (n {len(values)})"
                    )
                slope = drift.slope_per_hour("rss_bytes")
                print(
                    f"drift from the first recovery on: memory slope "
                    f"{(slope or 0) / 2**20:.1f} MiB/h, growth: fds {drift.growth('fds', 1):+.0f},"
                    f" threads {drift.growth('threads', 1):+.0f}, tasks "
                    f"{drift.growth('tasks', 1):+.0f}, peer connections "
                    f"{drift.growth('peer_connections', 1):+.0f}"
                )
                print(f"resumes: {[p.resumes for p in people]}, lost: {[p.lost for p in people]}")
                await stack.aclose()
        finally:
            await soak.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--every", type=float, default=60.0, help="seconds between faults")
    parser.add_argument("--token-ttl", type=int, default=60, help="access token lifetime (s)")
    parser.add_argument("--keep-alive", type=int, default=10, help="keepAliveSeconds")
    parser.add_argument("--outage", type=float, default=30.0, help="seconds the platform is down")
    parser.add_argument("--channel-cut", type=float, default=10.0, help="seconds it is cut")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the faults make every retry warn
    print(f"load average before: {os.getloadavg()}")
    asyncio.run(run(args))
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
