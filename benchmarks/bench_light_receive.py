"""CPU per received packet of the light receiver (`media.rtp_seams.count_frames_from_rtp`),
in-process, no network: a real aiortc receiver, 300k VP8 packets of 1 KB, 3 packets per frame.

Process CPU time over the loop, so a shared machine's load moves it less than wall-clock
figures (it still does: alternate trees and repeat). Compare two trees with PYTHONPATH:

    PYTHONPATH=. .venv/bin/python benchmarks/bench_light_receive.py
"""

from __future__ import annotations

import asyncio
import time

from aiortc import RTCPeerConnection
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from media.rtp_seams import count_frames_from_rtp

PACKETS = 300_000


async def main() -> None:
    pc = RTCPeerConnection()
    receiver = pc.addTransceiver("video").receiver
    # What negotiation would set: the receiver's payload type for VP8 (the benchmark's only
    # reach into aiortc, to skip negotiating a connection).
    vars(receiver)["_RTCRtpReceiver__codecs"][96] = RTCRtpCodecParameters(
        mimeType="video/VP8", clockRate=90000, payloadType=96
    )
    frames = [0]

    def on_frame(at: float, size: int, keyframe: bool) -> None:
        frames[0] += 1

    count_frames_from_rtp(receiver, on_frame)
    handle = receiver._handle_rtp_packet
    packets = [
        RtpPacket(
            payload_type=96,
            sequence_number=i & 0xFFFF,
            timestamp=(i // 3) * 3000,
            marker=int(i % 3 == 2),
            ssrc=1234,
            payload=b"\x10" + bytes(1000),
        )
        for i in range(PACKETS)
    ]
    start = time.process_time()
    for packet in packets:
        work = handle(packet, 0)
        try:  # noqa: SIM105  (a context manager per packet would be what is measured)
            work.send(None)  # never waits: in order, nothing to NACK
        except StopIteration:
            pass
    used = time.process_time() - start
    print(f"{used / PACKETS * 1e6:.3f} us/packet, frames {frames[0]}")
    await pc.close()


if __name__ == "__main__":
    asyncio.run(main())
