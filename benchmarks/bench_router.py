"""CPU of the media router per forwarded stream, measured in the router's own process.

The router runs alone in a child process; publishers (pre-encoded VP8 640x360, ~800 kbit/s,
30 fps, packets only: aiortc packetizes without encoding) and viewers (aiortc receivers whose
decoder is replaced by a frame counter) run in this process, so the router's figure is its own.
Signalling goes over a pipe. For each layout the router's process time over a steady window
is divided by wall time: "% of one core".

    .venv/bin/python benchmarks/bench_router.py            # default layouts, 8 s windows
    .venv/bin/python benchmarks/bench_router.py --seconds 5 --layouts 1x1 1x8 8x1
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import multiprocessing
import os
import platform
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiortc.rtcrtpreceiver
import av
import numpy as np
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.webrtc import seams
from agent.webrtc.host_addresses import LOOPBACK, use_host_addresses
from server.media.contract import MediaRouterError
from server.media.router import Router

WIDTH, HEIGHT, FPS = 640, 360, 30
ENCODER_TARGET = 770_000  # libvpx lands ~5% above target on this texture: ~800 kbit/s
CLIP_FRAMES = 120  # a 4 s loop with a keyframe every 2 s
VIDEO_TIME_BASE = fractions.Fraction(1, 90000)


# --- the router's process --------------------------------------------------------------------


class FrameRelayRouter:
    """Design (b), built here only to measure it against the router: frame-level forwarding.

    aiortc's own receiver runs (SRTP, jitter buffer, depacketizing, its decoder thread) with a
    "decoder" that passes each encoded frame through as an `av.Packet`; a pump fans the packets
    out to one bounded queue per viewer, whose track hands them to aiortc's sender, which then
    only packetizes. No keyframe requests travel upstream: enough for a CPU comparison.
    """

    def __init__(self) -> None:
        setattr(aiortc.rtcrtpreceiver, "get_decoder", lambda codec: _PassThroughDecoder())  # noqa: B010
        self._pcs: list[RTCPeerConnection] = []
        self._queues: dict[str, list[asyncio.Queue[av.Packet[Any]]]] = {}
        self._pumps: list[asyncio.Task[None]] = []

    def _new_pc(self) -> RTCPeerConnection:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self._pcs.append(pc)
        return pc

    async def publish(self, conference_id: str, stream_id: str, sdp_offer: str) -> str:
        pc = self._new_pc()
        queues = self._queues[stream_id] = []

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._pumps.append(asyncio.create_task(self._pump(track, queues)))

        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp_offer, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        return str(pc.localDescription.sdp)

    async def view(self, stream_id: str, viewer_id: str, sdp_offer: str) -> str:
        pc = self._new_pc()
        queue: asyncio.Queue[av.Packet[Any]] = asyncio.Queue(maxsize=30)
        self._queues[stream_id].append(queue)
        pc.addTransceiver(_QueueTrack(queue), direction="sendonly")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp_offer, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        return str(pc.localDescription.sdp)

    @staticmethod
    async def _pump(track: MediaStreamTrack, queues: list[asyncio.Queue[av.Packet[Any]]]) -> None:
        while True:
            packet = await track.recv()
            assert isinstance(packet, av.Packet)  # the pass-through decoder's output
            for queue in queues:
                if queue.full():
                    queue.get_nowait()
                queue.put_nowait(packet)

    async def close(self) -> None:
        for pump in self._pumps:
            pump.cancel()
        await asyncio.gather(*(pc.close() for pc in self._pcs))


class _PassThroughDecoder:
    def decode(self, encoded_frame: Any) -> list[av.Packet[Any]]:
        packet = av.Packet(encoded_frame.data)
        packet.pts = encoded_frame.timestamp
        packet.time_base = VIDEO_TIME_BASE
        return [packet]


class _QueueTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self, queue: asyncio.Queue[av.Packet[Any]]) -> None:
        super().__init__()
        self.queue = queue

    async def recv(self) -> av.Packet[Any]:
        return await self.queue.get()


ROUTERS = {"a": Router, "b": FrameRelayRouter}


ExtraOps = Callable[[Any, str, tuple[Any, ...]], Awaitable[Any]]
"""More operations for the router's process (another benchmark's): (router, op, args) -> reply;
a module-level function, so that the spawned process can import it."""


def router_process(
    conn: Connection, design: str, profile_path: str | None, extra: ExtraOps | None = None
) -> None:
    """Serve router calls from the pipe; report this process's CPU between mark and read."""
    seams.install()  # as the platform's router does (design "b" would not otherwise)
    if profile_path is None:
        asyncio.run(_serve(conn, design, extra))
        return
    import cProfile

    with cProfile.Profile() as profiler:
        asyncio.run(_serve(conn, design, extra))
    profiler.dump_stats(profile_path)


async def _serve(conn: Connection, design: str, extra: ExtraOps | None = None) -> None:
    router: Router | FrameRelayRouter = ROUTERS[design]()
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
    loop.add_reader(conn.fileno(), lambda: inbox.put_nowait(conn.recv()))
    mark = (0.0, 0.0)
    while True:
        request = await inbox.get()
        op, args = request[0], request[1:]
        try:
            if op == "publish":
                reply: Any = await router.publish("bench", *args)
            elif op == "view":
                reply = await router.view(*args)
            elif op == "mark":
                mark = (time.process_time(), time.monotonic())
                reply = None
            elif op == "read":
                reply = (time.process_time() - mark[0], time.monotonic() - mark[1])
            elif op == "reset":
                await router.close()
                router = ROUTERS[design]()
                reply = None
            elif op == "stop":
                await router.close()
                conn.send(("ok", None))
                return
            elif extra is not None:
                reply = await extra(router, op, args)
            else:
                raise ValueError(op)
            conn.send(("ok", reply))
        except MediaRouterError as exc:
            conn.send(("error", str(exc)))


class RouterClient:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()

    async def call(self, *request: Any) -> Any:
        async with self._lock:
            self._conn.send(request)
            status, reply = await asyncio.get_running_loop().run_in_executor(None, self._conn.recv)
        if status != "ok":
            raise RuntimeError(reply)
        return reply


# --- publishers and viewers (this process) ---------------------------------------------------


def encode_clip() -> list[bytes]:
    """Encode once: VP8 640x360 at ~800 kbit/s, moving texture so the rate is really spent."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    codec.bit_rate = ENCODER_TARGET
    codec.gop_size = FPS * 2
    codec.time_base = fractions.Fraction(1, FPS)
    codec.thread_count = 1
    codec.options = {  # "good" with one thread: the same clip whatever the machine's load
        "deadline": "good",
        "cpu-used": "5",
        "lag-in-frames": "0",
        "minrate": str(ENCODER_TARGET),
        "maxrate": str(ENCODER_TARGET),
        "bufsize": str(ENCODER_TARGET),
    }
    rng = np.random.default_rng(1)
    texture = rng.integers(0, 256, size=(HEIGHT, WIDTH * 2, 3), dtype=np.uint8)
    packets: list[bytes] = []
    for index in range(CLIP_FRAMES):
        shift = (index * 6) % WIDTH
        frame = av.VideoFrame.from_ndarray(texture[:, shift : shift + WIDTH], format="rgb24")
        frame = frame.reformat(format="yuv420p")
        frame.pts = index
        packets += [bytes(p) for p in codec.encode(frame)]
    packets += [bytes(p) for p in codec.encode(None)]
    return packets


class ClipTrack(MediaStreamTrack):
    """Loops the pre-encoded clip with rising timestamps (aiortc only packetizes `av.Packet`s)."""

    kind = "video"

    def __init__(self, clip: list[bytes]) -> None:
        super().__init__()
        self.clip = clip
        self.index = 0
        self.start: float | None = None

    async def recv(self) -> av.Packet[Any]:
        if self.start is None:
            self.start = time.monotonic()
        else:
            await asyncio.sleep(max(0.0, self.start + self.index / FPS - time.monotonic()))
        packet = av.Packet(self.clip[self.index % len(self.clip)])
        packet.pts = self.index * (90000 // FPS)
        packet.time_base = VIDEO_TIME_BASE
        self.index += 1
        return packet


@dataclass
class FrameCounter:
    frames: int = 0


def count_frames_instead_of_decoding(counter: FrameCounter) -> None:
    """Viewers here only count frames: their decoding would steal the shared CPU."""

    class CountingDecoder:
        def decode(self, encoded_frame: object) -> list[object]:
            counter.frames += 1
            return []

    setattr(aiortc.rtcrtpreceiver, "get_decoder", lambda codec: CountingDecoder())  # noqa: B010


async def connect_layout(
    router: RouterClient,
    clip: list[bytes],
    publishers: int,
    viewers_each: int,
    pcs: list[RTCPeerConnection],
) -> None:
    """Publish the clip as streams `s0`..: each with `viewers_each` receive-only viewers
    (`s0v0`..); every peer connection goes into `pcs`, so the caller closes them all even when
    this fails half way."""

    def new_pc() -> RTCPeerConnection:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pcs.append(pc)
        return pc

    for p in range(publishers):
        pc = new_pc()
        pc.addTransceiver(ClipTrack(clip), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        answer = await router.call("publish", f"s{p}", pc.localDescription.sdp)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        for v in range(viewers_each):
            vpc = new_pc()
            vpc.addTransceiver("video", direction="recvonly")
            await vpc.setLocalDescription(await vpc.createOffer())
            answer = await router.call("view", f"s{p}", f"s{p}v{v}", vpc.localDescription.sdp)
            await vpc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))


async def run_layout(
    router: RouterClient,
    clip: list[bytes],
    publishers: int,
    viewers_each: int,
    seconds: float,
    counter: FrameCounter,
) -> dict[str, float]:
    pcs: list[RTCPeerConnection] = []
    try:
        await connect_layout(router, clip, publishers, viewers_each, pcs)
        await asyncio.sleep(3)  # connect, first keyframe, steady state
        frames_before = counter.frames
        client_cpu = time.process_time()
        await router.call("mark")
        await asyncio.sleep(seconds)
        cpu, wall = await router.call("read")
        client_cpu = time.process_time() - client_cpu
        frames = counter.frames - frames_before
    finally:
        await asyncio.gather(*(pc.close() for pc in pcs))
        await router.call("reset")
    forwarded = publishers * viewers_each
    return {
        "router_core_pct": 100 * cpu / wall,
        "per_forwarded_pct": 100 * cpu / wall / forwarded,
        "client_core_pct": 100 * client_cpu / wall,
        "viewer_fps": frames / wall / forwarded,
    }


async def measure_layouts(
    layouts: list[tuple[int, int]],
    seconds: float,
    design: str = "a",
    profile_path: str | None = None,
) -> AsyncIterator[tuple[int, int, dict[str, float]]]:
    """(publishers, viewers each, figures) per layout, the router in its own process.

    Shared with `bench_media.py`, which prints these next to the agent's figures."""
    counter = FrameCounter()
    count_frames_instead_of_decoding(counter)
    clip = encode_clip()
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=router_process, args=(child, design, profile_path), daemon=True)
    process.start()
    router = RouterClient(parent)
    try:
        for publishers, viewers_each in layouts:
            yield (
                publishers,
                viewers_each,
                await run_layout(router, clip, publishers, viewers_each, seconds, counter),
            )
    finally:
        await router.call("stop")
        process.join(5)


def clip_kbps() -> float:
    clip = encode_clip()
    return sum(len(p) for p in clip) * 8 / (len(clip) / FPS) / 1000


async def main_async(
    layouts: list[tuple[int, int]], seconds: float, design: str, profile_path: str | None
) -> None:
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        f", load average before {os.getloadavg()[0]:.2f}"
    )
    print(f"router design: {design}")
    print(f"clip: VP8 {WIDTH}x{HEIGHT} {FPS} fps, {clip_kbps():.0f} kbit/s, window {seconds:.0f} s")
    print(
        f"{'publishers':>10} {'viewers/pub':>11} {'forwarded':>9} {'router %core':>12} "
        f"{'%core/fwd':>9} {'viewer fps':>10} {'clients %core':>13}"
    )
    async for publishers, viewers_each, r in measure_layouts(
        layouts, seconds, design, profile_path
    ):
        print(
            f"{publishers:>10} {viewers_each:>11} {publishers * viewers_each:>9} "
            f"{r['router_core_pct']:>12.1f} {r['per_forwarded_pct']:>9.2f} "
            f"{r['viewer_fps']:>10.1f} {r['client_core_pct']:>13.1f}",
            flush=True,
        )
    print(f"load average after {os.getloadavg()[0]:.2f}")


def parse_layout(text: str) -> tuple[int, int]:
    publishers, viewers = text.lower().split("x")
    return int(publishers), int(viewers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="measured window per layout")
    parser.add_argument("--profile", metavar="FILE", help="write the router's cProfile stats")
    parser.add_argument(
        "--design",
        choices=sorted(ROUTERS),
        default="a",
        help="a: the router (RTP-level); b: frame-level prototype, for comparison",
    )
    parser.add_argument(
        "--layouts",
        nargs="+",
        type=parse_layout,
        default=[(1, 1), (1, 4), (1, 8), (4, 1), (8, 1)],
        help="PUBLISHERSxVIEWERS_EACH, e.g. 1x8 8x1",
    )
    args = parser.parse_args()
    # Media on loopback only: the publishers and viewers here, and the router's own process
    # (spawned, so it reads the choice from the environment).
    seams.install()  # the packet path the agent runs with (the CLI installs it too)
    use_host_addresses(LOOPBACK, subprocesses=True)
    asyncio.run(main_async(args.layouts, args.seconds, args.design, args.profile))


if __name__ == "__main__":
    main()
