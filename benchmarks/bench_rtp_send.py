"""CPU per sent RTP packet on the push path, in µs, in-process: the header (aiortc's
`RtpPacket` + `serialize` against `rtp_header.HeaderWriter`), and header + SRTP + socket for a
VP8 frame of 5 packets (4 x 1300-byte payloads and a shorter last one, the push path's shape
at ~1.2 Mbit/s) one `sendto` per packet against one UDP GSO `sendmsg` (`udp_gso`).

Process CPU time over each loop, so the shared machine's load moves it less than wall-clock
figures (it still does: run it two or three times). Datagrams go to a loopback socket that
nobody reads (the kernel drops them once its buffer is full, after the send's cost was paid).
Run in a loopback-only namespace:

    unshare -n sh -c 'ip link set lo up && exec .venv/bin/python benchmarks/bench_rtp_send.py'
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable

import pylibsrtp
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from agent.webrtc.seams import udp_gso
from agent.webrtc.seams.rtp_header import HeaderWriter

FRAMES = 20_000
PAYLOADS = [os.urandom(1300) for _ in range(4)] + [os.urandom(700)]


def per_packet_us(run: Callable[[int], None]) -> float:
    run(500)  # warm up
    start = time.process_time()
    run(FRAMES)
    return (time.process_time() - start) / (FRAMES * len(PAYLOADS)) * 1e6


async def main() -> None:
    extensions = HeaderExtensionsMap()
    extensions.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
                RTCRtpHeaderExtensionParameters(
                    id=2, uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
                ),
            ]
        )
    )
    writer = HeaderWriter(extensions, 96, 0x1234, "0")
    srtp = pylibsrtp.Session(
        pylibsrtp.Policy(key=os.urandom(30), ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    )
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    address = sink.getsockname()
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    last = len(PAYLOADS) - 1
    sequence = [0]

    def aiortc_headers(frames: int) -> None:
        for frame in range(frames):
            for index, payload in enumerate(PAYLOADS):
                packet = RtpPacket(
                    payload_type=96,
                    sequence_number=sequence[0] & 0xFFFF,
                    timestamp=frame * 3000,
                    marker=int(index == last),
                    ssrc=0x1234,
                    payload=payload,
                )
                packet.extensions.abs_send_time = frame & 0xFFFFFF
                packet.extensions.mid = "0"
                packet.serialize(extensions)
                sequence[0] += 1

    def struct_headers(frames: int) -> None:
        for frame in range(frames):
            for index, payload in enumerate(PAYLOADS):
                writer.write(
                    sequence[0] & 0xFFFF, frame * 3000, index == last, frame & 0xFFFFFF, payload
                )
                sequence[0] += 1

    def sendto_each(frames: int) -> None:
        for frame in range(frames):
            for index, payload in enumerate(PAYLOADS):
                data = writer.write(sequence[0] & 0xFFFF, frame * 3000, index == last, 0, payload)
                sequence[0] += 1
                transport.sendto(srtp.protect(data), address)

    def gso(frames: int) -> None:
        for frame in range(frames):
            packets = []
            for index, payload in enumerate(PAYLOADS):
                data = writer.write(sequence[0] & 0xFFFF, frame * 3000, index == last, 0, payload)
                sequence[0] += 1
                packets.append(srtp.protect(data))
            if not udp_gso.send_segments(transport, packets, address):
                raise SystemExit("UDP GSO is not available here")

    print(f"µs of CPU per packet, {FRAMES} frames of {len(PAYLOADS)} packets; load {load()}")
    print(f"  header, aiortc RtpPacket+serialize   {per_packet_us(aiortc_headers):6.2f}")
    print(f"  header, struct (HeaderWriter)        {per_packet_us(struct_headers):6.2f}")
    print(f"  header+SRTP+sendto per packet        {per_packet_us(sendto_each):6.2f}")
    print(f"  header+SRTP+one GSO sendmsg a frame  {per_packet_us(gso):6.2f}")
    transport.close()
    sink.close()


def load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


if __name__ == "__main__":
    asyncio.run(main())
