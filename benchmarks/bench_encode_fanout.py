"""CPU per publish+view pair on loopback: encoder per publisher vs encode once, send many;
decoding viewer vs light (non-decoding) viewer.

Plain aiortc peer connection pairs in this process, no server. Each configuration runs N
pairs from one synthetic 640x360 30 fps VP8 source; CPU is this process's CPU time (all
threads: encoders, decoder threads, event loop) over a measured window after a warm-up,
reported as % of one core per pair. The source renders once per configuration in every
case (a `MediaRelay` feeds the per-publisher encoders), so the comparisons isolate encoding
and decoding.

    .venv/bin/python benchmarks/bench_encode_fanout.py --pairs 4 8 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack

from agent.webrtc import seams
from media.fanout import SharedEncoder
from media.loopback import LoopbackPair, loopback, wait_until
from media.reader import TrackReader
from media.sinks import FrameCounter
from media.video import SyntheticVideoTrack

CONFIGS = {
    "encode per publisher, decoding viewer": (False, True),
    "encode per publisher, light viewer": (False, False),
    "encode once, decoding viewer": (True, True),
    "encode once, light viewer": (True, False),
    "encode once, light viewer, one constrained": (True, False),
}
CONSTRAINED_ESTIMATE = 150_000
"""The estimate the constrained pair's subscriber is given (as its REMB would): a lower rung."""


@dataclass
class Result:
    config: str
    pairs: int
    cpu_per_pair: float  # fraction of one core
    rungs: int  # shared encodings running at the end (0: an encoder per publisher)
    fps_per_viewer: float
    max_rss_mb: float


async def run(config: str, pairs: int, seconds: float, warmup: float) -> Result:
    shared_encoding, decode = CONFIGS[config]
    source = SyntheticVideoTrack(640, 360, fps=30)
    relay = MediaRelay()
    shared = SharedEncoder(source, codec="VP8") if shared_encoding else None
    connections: list[LoopbackPair] = []
    counters: list[FrameCounter] = []
    readers: list[TrackReader] = []
    for _ in range(pairs):
        track: MediaStreamTrack
        if shared is not None:
            fanout = shared.subscribe()
            track = fanout
        else:
            track = relay.subscribe(source, buffered=False)
        pair = await loopback([track], video_codec="VP8", decode=decode)
        if shared is not None:
            fanout.bind_sender(pair.senders[0])
        counter = FrameCounter()
        connections.append(pair)
        counters.append(counter)
        readers.append(TrackReader(pair.remote_tracks[0], [counter]).start())
    await wait_until(lambda: all(c.frames > 0 for c in counters), 30)
    constrained = shared is not None and config.endswith("one constrained")
    if constrained:
        # Light viewers send no REMB, so the estimate given here is the only one it gets.
        assert shared is not None
        shared.take_estimate(fanout, CONSTRAINED_ESTIMATE)
        await wait_until(lambda: fanout.rung > 0 and fanout.target is None, 10)
    await asyncio.sleep(warmup)
    frames_before = [c.frames for c in counters]
    cpu_before, wall_before = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu = time.process_time() - cpu_before
    wall = time.monotonic() - wall_before
    frames = [c.frames - b for c, b in zip(counters, frames_before, strict=True)]
    rungs = len(shared.rungs) if shared is not None else 0
    for reader in readers:
        await reader.stop()
    for pair in connections:
        await pair.close()
    if shared is not None:
        shared.close()
    source.stop()
    return Result(
        config=config,
        pairs=pairs,
        cpu_per_pair=cpu / wall / pairs,
        rungs=rungs,
        fps_per_viewer=sum(frames) / len(frames) / wall,
        max_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )


def run_isolated(config: str, pairs: int, seconds: float, warmup: float) -> Result:
    """One configuration in a fresh process, so no thread or allocation of the previous one
    is counted against it."""
    command = [
        sys.executable,
        __file__,
        "--one",
        config,
        "--pairs",
        str(pairs),
        "--seconds",
        str(seconds),
        "--warmup",
        str(warmup),
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return Result(**json.loads(output.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pairs", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--config", choices=sorted(CONFIGS), action="append")
    parser.add_argument("--one", choices=sorted(CONFIGS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        seams.install()  # the packet path the agent runs with (the CLI installs it too)
        result = asyncio.run(run(args.one, args.pairs[0], args.seconds, args.warmup))
        print(json.dumps(asdict(result)))
        return
    configs = args.config or list(CONFIGS)
    print(
        f"# {platform.node()} {platform.machine()} {os.cpu_count()} cpus, "
        f"load {os.getloadavg()[0]:.2f}, python {platform.python_version()}"
    )
    print(f"# {args.seconds:g} s measured after {args.warmup:g} s warm-up, VP8 640x360 30 fps")
    print(
        f"{'configuration':44} {'pairs':>5} {'% core/pair':>12} {'fps/viewer':>11} "
        f"{'RSS MB':>7} {'rungs':>5}"
    )
    for pairs in args.pairs:
        for config in configs:
            result = run_isolated(config, pairs, args.seconds, args.warmup)
            print(
                f"{result.config:44} {result.pairs:5d} {100 * result.cpu_per_pair:11.1f}% "
                f"{result.fps_per_viewer:11.1f} {result.max_rss_mb:7.0f} {result.rungs:5d}",
                flush=True,
            )
    print(f"# load at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
