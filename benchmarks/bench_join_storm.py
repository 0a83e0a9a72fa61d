"""Join storm: participants arriving at a fixed rate into one conference; how long until each
has joined and until it sees its first remote frame.

The local platform runs in its own process (`auvious-agent serve`). A host publishes one
audio+video stream (VP8 640x360 30 fps ~800 kbit/s + Opus, encoded once); then `--count`
participants arrive at `--rate` per second, each a full participant (token, register, event
channel, join, simple view, view the host's stream with the light receiver). Arrivals do not
publish: a conference where each of 100 publishes and views every other would be 9,900 views,
which no single machine of this size forwards. Times are from the arrival (before the token
request) to the join answer, and to the first video frame.

    .venv/bin/python benchmarks/bench_join_storm.py --count 100 --rate 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.api.models import ConferenceStreamType
from agent.load import Crowd, LocalPlatform, SharedMedia, serve_platform
from agent.runtime import tune_garbage_collection
from agent.scenario.metrics import percentile

SETTLE_TIMEOUT = 60.0


def figures(values: list[float]) -> str:
    if not values:
        return "none"
    return (
        f"p50 {percentile(values, 50):.3f} s, p95 {percentile(values, 95):.3f} s, "
        f"max {max(values):.3f} s ({len(values)} values)"
    )


async def storm(local: LocalPlatform, count: int, rate: float, width: int, height: int) -> bool:
    plan = SharedMedia(ConferenceStreamType.MIC_AND_CAM, width=width, height=height)
    crowd = Crowd(local.base_url, local.credentials, plan)
    try:
        conference = await crowd.create_conference()
        host = await crowd.arrive(conference, "host", view=False)
        if host.error is not None:
            print(f"# the host could not publish: {host.error}")
            return False
        cpu0, platform0, wall0 = time.process_time(), local.cpu_seconds(), time.monotonic()
        tasks = []
        for index in range(count):
            tasks.append(
                asyncio.create_task(crowd.arrive(conference, f"arrival-{index}", publish=False))
            )
            await asyncio.sleep(1 / rate)
        arrivals = await asyncio.gather(*tasks)
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while any(m.first_frame_at() is None and m.error is None for m in arrivals):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        cpu1, platform1, wall1 = time.process_time(), local.cpu_seconds(), time.monotonic()
        joins = [m.joined_at - m.arrived_at for m in arrivals if m.joined_at is not None]
        firsts = [s for m in arrivals if (s := m.seconds_to_first_frame()) is not None]
        failed = [m for m in arrivals if m.error is not None]
        print(f"# {count} arrivals at {rate:g}/s into one conference, host {width}x{height}")
        print(f"arrival to joined:       {figures(joins)}")
        print(f"arrival to first frame:  {figures(firsts)}")
        print(f"failed arrivals: {len(failed)}; no frame: {count - len(firsts) - len(failed)}")
        steps: dict[str, list[float]] = {}
        for member in arrivals:
            for record in member.participant.timeline.records:
                if record.seconds is not None and record.ok:
                    steps.setdefault(record.step, []).append(record.seconds)
            connected = [r for r in member.participant.timeline.find("view") if r.ok]
            first = member.first_frame_at()
            if connected:
                for timing in ("request_ms", "answer_ms", "connected_ms"):
                    value = connected[0].details.get(timing)
                    if isinstance(value, int | float):
                        steps.setdefault(f"view {timing}", []).append(value / 1000)
            if connected and first is not None and connected[0].seconds is not None:
                ends = connected[0].started_at + connected[0].seconds
                steps.setdefault("(view done to first frame)", []).append(first - ends)
        for step, values in steps.items():
            print(f"  step {step:28} {figures(values)}")
        for member in failed[:5]:
            print(f"#   {member.name}: {member.error}")
        seconds = wall1 - wall0
        print(
            f"# CPU during the storm: participants {100 * (cpu1 - cpu0) / seconds:.0f}% of a "
            f"core, platform {100 * (platform1 - platform0) / seconds:.0f}% over {seconds:.1f} s"
        )
        p95 = percentile(firsts, 95) if len(firsts) == count else float("inf")
        return p95 < 1.0
    finally:
        await crowd.close()


async def main_async(args: argparse.Namespace) -> int:
    print(f"# {platform.node()} {os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f} at start")
    async with serve_platform() as local:
        ok = await storm(local, args.count, args.rate, args.width, args.height)
    print(f"# load at end {os.getloadavg()[0]:.2f}; first-frame p95 under 1 s: {ok}")
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--rate", type=float, default=10.0, help="arrivals per second")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    tune_garbage_collection()  # as `auvious-agent run` and its workers do
    sys.exit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
