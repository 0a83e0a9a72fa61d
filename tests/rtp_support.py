"""Media for the router and contract tests: a moving VP8-encodable picture, and a one-packet
loss on an RTP path to see RTX repair it.
"""

from __future__ import annotations

from typing import Any

import av
import numpy as np
from aiortc import RTCRtpTransceiver
from aiortc.mediastreams import VideoStreamTrack
from aiortc.rtp import RtpPacket, is_rtcp

from agent.webrtc.seams.packet_path import SYNC_HANDLER, PacketHandler


class MovingVideo(VideoStreamTrack):
    """Small synthetic picture with motion, encoded by aiortc's VP8 encoder."""

    def __init__(self, width: int = 320, height: int = 180, noise: bool = False) -> None:
        super().__init__()
        self.width, self.height = width, height
        self._count = 0
        self._rng = np.random.default_rng(3) if noise else None

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        shape = (self.height, self.width, 3)
        if self._rng is None:
            image = np.zeros(shape, dtype=np.uint8)
        else:  # noise defeats compression: the encoder spends all of its target bitrate
            image = self._rng.integers(0, 256, size=shape, dtype=np.uint8)
        x = (self._count * 4) % self.width
        image[:, x : x + 16] = (255, 255, 255)
        image[:, :, 1] = np.uint8(self._count % 256)
        self._count += 1
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        return frame


class DropOnce:
    """Drops the `nth` media packet passing one point of the path, and notes the RTX repairs.

    It sees plain RTP (SRTP is added after, or was removed before, the wrapped call).
    """

    def __init__(self, transceiver: RTCRtpTransceiver, nth: int = 40) -> None:
        self.rtx_payload_type = next(
            c.payloadType for c in transceiver._codecs if c.mimeType.lower() == "video/rtx"
        )
        self.nth = nth
        self.seen = 0
        self.dropped: int | None = None
        self.repaired: list[int] = []

    def passes(self, data: bytes) -> bool:
        return is_rtcp(data) or self.passes_packet(RtpPacket.parse(data))

    def passes_packet(self, packet: RtpPacket) -> bool:
        if packet.payload_type == self.rtx_payload_type:
            self.repaired.append(int.from_bytes(packet.payload[:2], "big"))
        elif self.dropped is None:
            self.seen += 1
            if self.seen == self.nth:
                self.dropped = packet.sequence_number
                return False
        return True

    @property
    def done(self) -> bool:
        return self.dropped is not None and self.dropped in self.repaired


def lose_on_send(transceiver: RTCRtpTransceiver, drop: DropOnce) -> None:
    """`drop` sees (and may drop) every RTP packet the transceiver's sender sends."""
    transport: Any = transceiver.sender.transport
    send_rtp = transport._send_rtp

    async def lossy_send(data: bytes) -> None:
        if drop.passes(data):
            await send_rtp(data)

    transport._send_rtp = lossy_send


def lose_on_receive(transceiver: RTCRtpTransceiver, drop: DropOnce) -> None:
    """`drop` sees (and may drop) every RTP packet the transceiver's receiver gets, whichever
    way it arrives: through aiortc's receive task, or handed over directly (`packet_path`)."""
    receiver: Any = transceiver.receiver
    transport: Any = receiver.transport
    handle_rtp = transport._handle_rtp_data

    async def lossy_receive(data: bytes, arrival_time_ms: int) -> None:
        if drop.passes(data):
            await handle_rtp(data, arrival_time_ms)

    transport._handle_rtp_data = lossy_receive
    handle_now: PacketHandler | None = getattr(receiver, SYNC_HANDLER, None)
    if handle_now is not None:
        direct = handle_now

        def lossy_now(packet: RtpPacket, arrival_time_ms: int) -> None:
            if drop.passes_packet(packet):
                direct(packet, arrival_time_ms)

        setattr(receiver, SYNC_HANDLER, lossy_now)
