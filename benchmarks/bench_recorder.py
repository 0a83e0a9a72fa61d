"""CPU of recording a stream beside forwarding it, measured in the router's own process.

The router runs alone in a child process (as in `bench_router.py`): P publishers send
pre-encoded VP8 640x360 30 fps (~800 kbit/s), each with one viewer. Over one window the
router only forwards; over the next, every stream is also recorded by the recorder's tap
(`RecordingTap` + `TrackWriter`, the same code the platform runs: frame assembly,
depayloading, muxing to WebM in the executor, no decoder). The difference, divided by P, is
the CPU per recorded track; the files are decoded afterwards to check that every frame was written.

    .venv/bin/python benchmarks/bench_recorder.py                    # P = 1, 4, 8; 8 s windows
    .venv/bin/python benchmarks/bench_recorder.py --publishers 4 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import av
from aiortc import RTCPeerConnection

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.webrtc.host_addresses import LOOPBACK, use_host_addresses
from benchmarks.bench_router import (
    FPS,
    HEIGHT,
    WIDTH,
    FrameCounter,
    RouterClient,
    clip_kbps,
    connect_layout,
    count_frames_instead_of_decoding,
    encode_clip,
    router_process,
)
from server.media.router import Router
from server.recorder.tap import RecordingTap
from server.recorder.writer import TrackWriter

_TAPS: dict[str, RecordingTap] = {}


async def recorder_ops(router: Any, op: str, args: tuple[Any, ...]) -> Any:
    """`record STREAM DIR` taps a stream's video into DIR/STREAM.webm; `finish` closes every
    file and answers {stream: (path, frames written)}."""
    assert isinstance(router, Router)
    if op == "record":
        stream_id, directory = args
        codec = router.track_codec(stream_id, "video")
        assert codec is not None
        final = Path(directory) / f"{stream_id}.webm"
        tap = RecordingTap("video", codec, TrackWriter(final.with_suffix(".part"), final, "VP8"))
        _TAPS[stream_id] = tap
        await router.tap(stream_id, "video", tap)
        return None
    if op == "finish":
        done = {}
        for stream_id, tap in _TAPS.items():
            router.untap(stream_id, "video", tap)
            await tap.writer.close()
            seconds = 0.0
            if tap.started is not None and tap.stopped is not None:
                seconds = (tap.stopped - tap.started).total_seconds()
            done[stream_id] = (str(tap.writer.final), tap.writer.frames, seconds)
        _TAPS.clear()
        return done
    raise ValueError(op)


def decoded_frames(path: str) -> int:
    """Frames the file decodes to; -1 when there is no file (no keyframe reached the tap)."""
    if not Path(path).is_file():
        return -1
    with av.open(path) as container:
        return sum(1 for _ in container.decode(video=0))


async def run(
    router: RouterClient, clip: list[bytes], publishers: int, seconds: float, directory: str
) -> dict[str, float]:
    pcs: list[RTCPeerConnection] = []
    try:
        await connect_layout(router, clip, publishers, 1, pcs)
        await asyncio.sleep(3)  # connect, first keyframe, steady state
        await router.call("mark")
        await asyncio.sleep(seconds)
        forward_cpu, forward_wall = await router.call("read")
        for p in range(publishers):
            await router.call("record", f"s{p}", directory)
        await asyncio.sleep(1)  # the recorder's first keyframe
        await router.call("mark")
        await asyncio.sleep(seconds)
        record_cpu, record_wall = await router.call("read")
        files = await router.call("finish")
    finally:
        await asyncio.gather(*(pc.close() for pc in pcs))
        await router.call("reset")
    frames = []
    for path, written, recorded_for in files.values():
        frames.append((written, decoded_frames(path), recorded_for))
    forward = 100 * forward_cpu / forward_wall
    record = 100 * record_cpu / record_wall
    return {
        "forward_pct": forward,
        "record_pct": record,
        "per_track_pct": (record - forward) / publishers,
        "fps_written": min(w / (seconds or 1) for w, _, seconds in frames),
        "all_decoded": float(all(w == d for w, d, _ in frames)),
    }


async def main_async(counts: list[int], seconds: float) -> None:
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        f", load average before {os.getloadavg()[0]:.2f}"
    )
    print(
        f"clip: VP8 {WIDTH}x{HEIGHT} {FPS} fps, {clip_kbps():.0f} kbit/s, windows {seconds:.0f} s"
    )
    counter = FrameCounter()
    count_frames_instead_of_decoding(counter)
    clip = encode_clip()
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=router_process, args=(child, "a", None, recorder_ops), daemon=True)
    process.start()
    router = RouterClient(parent)
    print(
        f"{'publishers':>10} {'forward %core':>13} {'+record %core':>13} "
        f"{'%core/recorded track':>20} {'fps written':>11} {'files decode':>12}"
    )
    try:
        for publishers in counts:
            with tempfile.TemporaryDirectory(prefix="bench-recorder-") as directory:
                r = await run(router, clip, publishers, seconds, directory)
            print(
                f"{publishers:>10} {r['forward_pct']:>13.1f} {r['record_pct']:>13.1f} "
                f"{r['per_track_pct']:>20.2f} {r['fps_written']:>11.1f} "
                f"{'yes' if r['all_decoded'] else 'NO':>12}",
                flush=True,
            )
    finally:
        await router.call("stop")
        process.join(5)
    print(f"load average after {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="each measured window")
    parser.add_argument("--publishers", nargs="+", type=int, default=[1, 4, 8])
    args = parser.parse_args()
    use_host_addresses(LOOPBACK, subprocesses=True)
    asyncio.run(main_async(args.publishers, args.seconds))


if __name__ == "__main__":
    main()
