"""Soak with faults (issue 16): a call of two participants against a real `auvious-agent serve`
process, with short-lived access tokens, and a fault every `--every` seconds in turn:

- `restart`: the platform process is killed (SIGKILL) and started again on the same port and
  data directory;
- `channel`: one participant's event channel (MQTT over WebSocket, through a proxy) is cut for
  `--cut` seconds;
- `unreachable`: the platform is paused (SIGSTOP) for `--unreachable` seconds, longer than the
  keepalive period, then continued;
- `peer`: one participant's published peer connection is closed under it.

After each fault the figure is the time from the platform answering again (restart: it prints
its address; unreachable: SIGCONT; the others: the fault) until both participants publish and
receive fresh video. Between faults the participants' own failures are counted (requests that
failed, resumes), as are token renewals; at the end the peer connections, file descriptors,
threads and asyncio tasks of this process are compared with their level after the first round
of faults, and the memory slope is given in MB per hour.

`--probe` says after each fault what the process holds once garbage is collected and the C heap
trimmed (glibc heap in use, resident memory by mapping, objects by type, tasks, the
participants' containers; `--tracemalloc` adds Python allocations by traceback):
`benchmarks/heap_probe.py`, which found the redaction's compiled patterns (RESULTS.md, mem16c).

`--faults` picks the faults (in turn); `--faults none` is a call without faults, sampled every
`--every` seconds: the 60 s-token hour (`--duration 3600 --every 120 --faults none`).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.api.models import ConferenceStreamType
from agent.participant import Participant
from agent.participant.drift import DriftWatcher, ResourceSample
from agent.scenario.metrics import percentile
from agent.webrtc import seams
from agent.webrtc.host_addresses import LOOPBACK, use_host_addresses
from benchmarks.heap_probe import HeapProbe
from server.config import DEV_SECRET_FILE
from tests.resume_support import CuttableProxy, dev_participant, media_flowing, start_call
from tests.serve_support import serve_process

CAM = ConferenceStreamType.CAM
FAULTS = ("restart", "channel", "unreachable", "peer")
BOUND = 90.0
SERVE: dict[str, Any] = {
    "startup_timeout": 90.0,
    "stderr": Path(f"/tmp/bench_soak_serve.{os.getpid()}.log"),  # one per run: runs side by side
}


async def run(args: argparse.Namespace) -> int:
    seams.install()
    use_host_addresses(LOOPBACK, subprocesses=True)
    recoveries: dict[str, list[float]] = defaultdict(list)
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        data = str(Path(tmp) / "data")
        serve_args = ("--data-dir", data, "--access-token-ttl", str(args.token_ttl))
        async with AsyncExitStack() as servers:
            # The running `serve` in a stack of its own: a restart closes the killed one's log
            # and pipes, so the soak's fd count is the participants' own.
            platform = AsyncExitStack()
            servers.push_async_callback(lambda: platform.aclose())
            first = serve_process(*serve_args, **SERVE)
            url, _, process = await platform.enter_async_context(first)
            port = str(urlsplit(url).port)
            secret = (Path(data) / DEV_SECRET_FILE).read_text().strip()
            proxy = CuttableProxy("127.0.0.1", int(port))
            await proxy.start()
            servers.push_async_callback(proxy.close)
            async with AsyncExitStack() as people_stack:
                people: list[Participant] = []
                for name, via_proxy in (("kiosk", True), ("agent", False)):
                    events_url = f"ws://127.0.0.1:{proxy.port}/ws" if via_proxy else None
                    person = dev_participant(
                        url, secret, name, args.keep_alive, event_channel_url=events_url
                    )
                    people.append(await people_stack.enter_async_context(person))
                renewals: list[object] = []
                for person in people:
                    person.auth.add_listener(renewals.append)
                await start_call(people, BOUND)

                async def restart() -> float:
                    nonlocal process, platform
                    process.kill()
                    await process.wait()
                    await platform.aclose()
                    platform = AsyncExitStack()
                    again = serve_process(*serve_args, "--port", port, **SERVE)
                    _, _, process = await platform.enter_async_context(again)
                    return time.monotonic()

                async def channel() -> float:
                    proxy.cut()
                    await asyncio.sleep(args.cut)
                    proxy.restore()
                    return time.monotonic()

                async def unreachable() -> float:
                    process.send_signal(signal.SIGSTOP)
                    try:
                        await asyncio.sleep(args.unreachable)
                    finally:
                        process.send_signal(signal.SIGCONT)
                    return time.monotonic()

                async def peer() -> float:
                    link = people[0].publishers[0].link
                    if link is not None:
                        await link.pc.close()
                    return time.monotonic()

                known = {f.__name__: f for f in (restart, channel, unreachable, peer)}
                faults: list[Callable[[], Awaitable[float]]] = [known[f] for f in args.faults]
                gaps: list[tuple[str, float, float]] = []
                watching = [asyncio.create_task(watch_gaps(p, gaps)) for p in people]
                drift = DriftWatcher(lambda: sum(p.peer_connection_count() for p in people))
                drift.take()
                probe = HeapProbe(people, 8 if args.tracemalloc else 0) if args.probe else None
                windows: list[tuple[float, float]] = []
                """Wall-clock spans from each fault to both participants' recovery."""
                started = time.monotonic()
                n = 0
                while (left := args.duration - (time.monotonic() - started)) > 0:
                    if not faults:  # a call without faults: a sample every period
                        await asyncio.sleep(min(args.every, left))
                        sample = drift.take()
                        print(f"{time.strftime('%H:%M:%S')} call: {describe(sample, renewals)}")
                        continue
                    fault = faults[n % len(faults)]
                    n += 1
                    began = time.time()
                    answering = await fault()
                    try:
                        for person in people:
                            await media_flowing(person, BOUND)
                        seconds = time.monotonic() - answering
                    except TimeoutError:
                        failures.append(f"fault {n} ({fault.__name__}): not back in {BOUND} s")
                        seconds = float("inf")
                    recoveries[fault.__name__].append(seconds)
                    windows.append((began, time.time()))
                    sample = drift.take()
                    print(
                        f"{time.strftime('%H:%M:%S')} fault {n} {fault.__name__}: both back "
                        f"{seconds:.2f} s after the platform answered; "
                        f"{describe(sample, renewals)}",
                        flush=True,
                    )
                    if probe is not None:
                        probe.take(f"after fault {n}")
                    rest = args.every - (time.monotonic() - answering)
                    left = args.duration - (time.monotonic() - started)
                    await asyncio.sleep(max(0.0, min(rest, left)))
                elapsed = time.monotonic() - started
                for task in watching:
                    task.cancel()
                outside = [
                    (name, a, b)
                    for name, a, b in gaps
                    if not any(w0 <= b and a <= w1 for w0, w1 in windows)
                ]
                print(
                    f"video gaps over 1 s: {len(gaps)}, of them outside a fault's window "
                    f"{len(outside)}"
                    + "".join(f"; {who} {b - a:.1f} s at {time.ctime(a)}" for who, a, b in outside)
                )
                if outside:
                    failures.append(f"{len(outside)} video gap(s) outside the faults")
                report(people, drift, recoveries, renewals, elapsed, failures, windows)
    return 1 if failures else 0


def describe(sample: ResourceSample, renewals: list[object]) -> str:
    return (
        f"peer connections {sample.peer_connections}, fds {sample.fds}, threads "
        f"{sample.threads}, tasks {sample.tasks}, rss {sample.rss_bytes / 2**20:.1f} MiB, "
        f"token renewals {len(renewals)}"
    )


async def watch_gaps(person: Participant, gaps: list[tuple[str, float, float]]) -> None:
    """Every wall-clock span over 1 s in which `person` received no new video frame."""
    last_frames, last_change = -1, time.time()
    while True:
        await asyncio.sleep(0.25)
        frames = sum(v.frames("video") for v in person.viewers.values())
        now = time.time()
        if frames != last_frames:
            if now - last_change > 1.0 and last_frames >= 0:
                gaps.append((person.name, last_change, now))
            last_frames, last_change = frames, now


def report(
    people: list[Participant],
    drift: DriftWatcher,
    recoveries: dict[str, list[float]],
    renewals: list[object],
    elapsed: float,
    failures: list[str],
    windows: list[tuple[float, float]],
) -> None:
    everything = [s for values in recoveries.values() for s in values]
    for kind, values in [*recoveries.items(), ("all", everything)]:
        if not values:
            continue
        print(
            f"recovery {kind}: p50 {percentile(values, 50):.2f} s, "
            f"p95 {percentile(values, 95):.2f} s, max {max(values):.2f} s ({len(values)} faults)"
        )
    resumes = [r for p in people for r in p.timeline.find("resume")]
    failed = [r for p in people for r in p.timeline.records if not r.ok]
    between = [
        (p.name, r.step, r.error)
        for p in people
        for r in p.timeline.records
        if not r.ok and not any(a <= r.started_at <= b for a, b in windows)
    ]
    print(
        f"resumes {len(resumes)} (all ok: {all(r.ok for r in resumes)}); failed steps "
        f"{len(failed)}, of them outside a fault's window {len(between)}; token renewals "
        f"{len(renewals)} in {elapsed / 60:.1f} min"
    )
    for name, step, error in between[:10]:
        print(f"  outside a fault: {name}: {step}: {error}")
    samples = drift.samples
    if len(samples) > 5:  # the first round sets the level (imports, pools, caches)
        level = len(samples) // 4 or 1
        for field in ("peer_connections", "fds", "threads", "tasks"):
            print(f"growth of {field} after the first round: {drift.growth(field, since=level)}")
        hours = (samples[-1].at - samples[level].at) / 3600
        megabytes = drift.growth("rss_bytes", since=level) / 2**20
        slope = drift.slope_per_hour("rss_bytes")
        print(
            f"memory: {megabytes:+.1f} MiB over {hours:.2f} h after the first round; slope "
            f"over the run {(slope or 0.0) / 2**20:+.1f} MiB/h"
        )
    for failure in failures:
        print(f"FAILED {failure}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=7200.0, help="seconds (default 2 h)")
    parser.add_argument("--every", type=float, default=300.0, help="seconds between faults")
    parser.add_argument("--token-ttl", type=int, default=60, help="access token lifetime (s)")
    parser.add_argument("--keep-alive", type=int, default=10, help="keepAliveSeconds")
    parser.add_argument("--cut", type=float, default=5.0, help="event channel cut (s)")
    parser.add_argument(
        "--faults",
        type=lambda text: [] if text == "none" else text.split(","),
        default=list(FAULTS),
        help=f"which faults, in turn (comma-separated of {', '.join(FAULTS)}; 'none': a "
        "call without faults, sampled every --every seconds)",
    )
    parser.add_argument("--unreachable", type=float, default=30.0, help="platform paused (s)")
    parser.add_argument(
        "--probe",
        action="store_true",
        help="after each fault: gc, malloc_trim, then what grew (glibc heap in use and kept, "
        "objects by type, tasks, the participants' containers)",
    )
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="with --probe: also Python allocations by traceback (slows the run)",
    )
    args = parser.parse_args()
    if unknown := set(args.faults) - set(FAULTS):
        parser.error(f"--faults: unknown {', '.join(sorted(unknown))}")
    logging.basicConfig(level=logging.ERROR)  # the faults make every retry warn
    print(f"load average before: {os.getloadavg()}; {vars(args)}", flush=True)
    code = asyncio.run(run(args))
    print(f"load average after: {os.getloadavg()}")
    sys.exit(code)


if __name__ == "__main__":
    main()
