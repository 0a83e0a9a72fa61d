"""CPU per RTP packet through the recorder's tap and writer alone, this tree beside another.

No router and no network: the packets a publisher would send (VP8 640x360 30 fps ~800 kbit/s,
the clip of `bench_router.py`; Opus 20 ms stereo; H264 640x360 from libx264) are made once,
then a fresh child process per tree feeds them into that tree's `RecordingTap.forward` (the
`Downstream` call the router makes, keyframe starts flagged as the ingress flags them) with a
real `TrackWriter` behind it, and reads its own CPU time: the tap on the event loop's thread,
then the writer (muxing, in the executor) until the file is complete. Each child checks that
its file decodes to as many frames as it wrote. Trees alternate, rounds repeat, the median
is shown.

    .venv/bin/python benchmarks/bench_recorder_tap.py --against /work/main   # old beside new
    .venv/bin/python benchmarks/bench_recorder_tap.py --rounds 5 --loops 10
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import os
import pickle
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent

Wire = tuple[int, int, int, int, int, bytes]
"""payload type, marker, sequence number, timestamp, SSRC, payload."""

_CODECS = {
    "VP8": ("video/VP8", 90000, 96, None),
    "H264": ("video/H264", 90000, 102, None),
    "opus": ("audio/opus", 48000, 111, 2),
}


# --- the clips (parent process, this tree) ---------------------------------------------------


def _rtp(frames: list[tuple[list[bytes], int]], payload_type: int, loops: int) -> list[Wire]:
    """Packets of ``frames`` (payloads, RTP ticks per frame) repeated ``loops`` times with
    rising sequence numbers and timestamps, the marker on each frame's last packet."""
    wire: list[Wire] = []
    seq, timestamp = 4000, 1_000_000
    for _ in range(loops):
        for payloads, ticks in frames:
            for n, payload in enumerate(payloads):
                marker = int(n == len(payloads) - 1)
                wire.append(
                    (payload_type, marker, seq & 0xFFFF, timestamp & 0xFFFFFFFF, 7, payload)
                )
                seq += 1
            timestamp += ticks
    return wire


def vp8_clip(loops: int) -> list[Wire]:
    import av
    from aiortc.codecs.vpx import Vp8Encoder

    from benchmarks.bench_router import FPS, encode_clip

    packer = Vp8Encoder()
    frames = []
    for index, data in enumerate(encode_clip()):
        packet = av.Packet(data)
        packet.pts, packet.time_base = index, fractions.Fraction(1, FPS)
        frames.append((packer.pack(packet)[0], 90000 // FPS))
    return _rtp(frames, 96, loops)


def h264_clip(loops: int) -> list[Wire]:
    import av
    import numpy as np
    from aiortc.codecs.h264 import H264Encoder

    encoder = av.CodecContext.create("libx264", "w")
    assert isinstance(encoder, av.VideoCodecContext)
    encoder.width, encoder.height, encoder.pix_fmt = 640, 360, "yuv420p"
    encoder.time_base = fractions.Fraction(1, 30)
    encoder.bit_rate = 800_000
    encoder.gop_size = 60
    encoder.options = {"preset": "ultrafast", "tune": "zerolatency", "profile": "baseline"}
    rng = np.random.default_rng(1)
    texture = rng.integers(0, 256, size=(360, 1280, 3), dtype=np.uint8)
    packer = H264Encoder()
    frames = []
    for index in range(120):
        shift = (index * 6) % 640
        picture = av.VideoFrame.from_ndarray(texture[:, shift : shift + 640], format="rgb24")
        picture = picture.reformat(format="yuv420p")
        picture.pts = index
        for packet in encoder.encode(picture):
            frames.append((packer.pack(packet)[0], 3000))
    return _rtp(frames, 102, loops)


def opus_clip(loops: int) -> list[Wire]:
    import av
    import numpy as np

    encoder = av.CodecContext.create("libopus", "w")
    assert isinstance(encoder, av.AudioCodecContext)
    encoder.sample_rate, encoder.layout, encoder.format = 48000, "stereo", "s16"
    encoder.bit_rate = 64000
    frames = []
    samples = 960  # 20 ms
    for index in range(200):  # 4 s, as the video clip
        t = (np.arange(samples) + index * samples) / 48000
        tone = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
        audio = av.AudioFrame.from_ndarray(
            np.repeat(tone, 2)[None, :], format="s16", layout="stereo"
        )
        audio.sample_rate, audio.pts = 48000, index * samples
        frames += [([bytes(p)], samples) for p in encoder.encode(audio)]
    return _rtp(frames, 111, loops)


# --- one measurement (child process, the tree under test) ------------------------------------


async def measure(tree: str, codec_name: str, wire: list[Wire]) -> dict[str, Any]:
    """CPU of ``wire`` through ``tree``'s tap and writer; imports come from ``tree``."""
    import av
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters
    from aiortc.rtp import RtpPacket

    from media.rtp_seams import starts_keyframe
    from server.recorder.tap import RecordingTap
    from server.recorder.writer import TrackWriter

    mime, clock, payload_type, channels = _CODECS[codec_name]
    codec = RTCRtpCodecParameters(
        mimeType=mime, clockRate=clock, payloadType=payload_type, channels=channels
    )
    kind = mime.split("/")[0]
    packets = [
        RtpPacket(payload_type=pt, marker=m, sequence_number=s, timestamp=ts, ssrc=ss, payload=p)
        for pt, m, s, ts, ss, p in wire
    ]
    starts = [kind == "video" and starts_keyframe(codec.name, p.payload) for p in packets]
    with tempfile.TemporaryDirectory(prefix="bench-tap-") as directory:
        final = Path(directory) / "track.mkv"
        tap = RecordingTap(kind, codec, TrackWriter(final.with_suffix(".part"), final, codec.name))
        tap_start = time.thread_time()
        process_start = time.process_time()
        for packet, start in zip(packets, starts, strict=True):
            await tap.forward(packet, packet.sequence_number, start)
        tap_cpu = time.thread_time() - tap_start
        await tap.writer.close()  # the queued frames are muxed in the executor
        total_cpu = time.process_time() - process_start
        written = tap.writer.frames
        with av.open(str(final)) as container:
            stream = container.streams[0]
            decoded = sum(1 for _ in container.decode(stream))
    return {
        "packets": len(packets),
        "tap_us": tap_cpu / len(packets) * 1e6,
        "writer_us": (total_cpu - tap_cpu) / len(packets) * 1e6,
        "total_us": total_cpu / len(packets) * 1e6,
        "written": written,
        "decoded": decoded,
    }


def child(tree: str, clips_path: str) -> None:
    sys.path.insert(0, tree)
    with open(clips_path, "rb") as f:
        clips: dict[str, list[Wire]] = pickle.load(f)
    results = {name: asyncio.run(measure(tree, name, wire)) for name, wire in clips.items()}
    import server.recorder.tap

    if not Path(server.recorder.tap.__file__).is_relative_to(tree):
        raise SystemExit(f"measured {server.recorder.tap.__file__}, not the tap of {tree}")
    print(json.dumps(results))


# --- the comparison (parent) -----------------------------------------------------------------


def run_child(tree: str, clips_path: str) -> dict[str, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", tree, clips_path],
        capture_output=True,
        text=True,
        check=False,
        cwd=tree,
    )
    if done.returncode != 0:
        raise SystemExit(f"the measurement in {tree} failed:\n{done.stderr}")
    result: dict[str, dict[str, Any]] = json.loads(done.stdout.splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", help="another tree of this project (e.g. a checkout of main)")
    parser.add_argument("--codecs", nargs="+", default=["VP8", "opus", "H264"])
    parser.add_argument("--loops", type=int, default=5, help="times each 4 s clip is sent")
    parser.add_argument("--rounds", type=int, default=3, help="measurements per tree (median)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    sys.path.insert(0, str(HERE))
    makers = {"VP8": vp8_clip, "opus": opus_clip, "H264": h264_clip}
    clips = {name: makers[name](args.loops) for name in args.codecs}
    trees = {"this tree": str(HERE)}
    if args.against:
        trees = {"against": str(Path(args.against).resolve()), **trees}
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        f", load average before {os.getloadavg()[0]:.2f}"
    )
    runs: dict[str, list[dict[str, dict[str, Any]]]] = {label: [] for label in trees}
    with tempfile.NamedTemporaryFile(suffix=".pickle") as f:
        pickle.dump(clips, f)
        f.flush()
        for _ in range(args.rounds):
            for label, tree in trees.items():
                runs[label].append(run_child(tree, f.name))
    print(
        f"{'tree':>10} {'codec':>5} {'packets':>7} {'tap us/pkt':>10} {'writer us/pkt':>13} "
        f"{'total us/pkt':>12} {'frames written':>14} {'decoded':>7}"
    )
    for name in args.codecs:
        for label in trees:
            rows = [run[name] for run in runs[label]]
            median = {k: statistics.median(r[k] for r in rows) for k in ("tap_us", "writer_us")}
            total = statistics.median(r["total_us"] for r in rows)
            last = rows[-1]
            print(
                f"{label:>10} {name:>5} {last['packets']:>7} {median['tap_us']:>10.1f} "
                f"{median['writer_us']:>13.1f} {total:>12.1f} {last['written']:>14} "
                f"{last['decoded']:>7}"
            )
    print(f"trees: {', '.join(f'{k} = {v}' for k, v in trees.items())}")
    print(f"load average after {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
