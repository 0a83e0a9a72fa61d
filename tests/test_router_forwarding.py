"""The forwarding path packet by packet: ingress and egress between two recording transports.

The end-to-end tests show media flowing; these pin down the numbering rules behind it (offset
mapping, keyframe start, NACK to RTX, a publisher's SSRC change, REMB cap), which loopback
rarely exercises. The transports only record what would go on the wire: the DTLS/ICE layers
are not what is tested here, and real ones cannot be told to drop or reorder on cue.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiortc import RTCRtpCodecParameters
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpparameters import (
    RTCRtcpParameters,
    RTCRtpReceiveParameters,
    RTCRtpSendParameters,
)
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
    RtpPacket,
    is_rtcp,
    unpack_remb_fci,
)
from aiortc.stats import RTCStatsReport

from server.media.egress import ViewerEgress
from server.media.ingress import StreamIngress

PUBLISHER_SSRC = 1111
VP8_IN, RTX_IN = 96, 97
VP8_OUT, RTX_OUT = 120, 121
KEY = bytes([0x90, 0x80, 0x05, 0x10, 0x02, 0x00, 0x9D])  # S=1 PID=0, picture id, key tag
DELTA = bytes([0x90, 0x80, 0x06, 0x31, 0x02, 0x00])
MIDDLE = bytes([0x80, 0x80, 0x06, 0x00, 0x00])  # continuation of a frame


@dataclass
class RecordingTransport:
    """What the ingress and egress use of an RTCDtlsTransport, recording what they send."""

    state: str = "connected"
    sent: list[bytes] = field(default_factory=list)
    _stats_id: str = "transport"

    async def _send_rtp(self, data: bytes) -> None:
        self.sent.append(data)

    def _register_rtp_receiver(self, receiver: object, parameters: object) -> None: ...
    def _unregister_rtp_receiver(self, receiver: object) -> None: ...
    def _register_rtp_sender(self, sender: object, parameters: object) -> None: ...
    def _unregister_rtp_sender(self, sender: object) -> None: ...

    def _get_stats(self) -> RTCStatsReport:
        return RTCStatsReport()

    def rtp(self) -> list[RtpPacket]:
        return [RtpPacket.parse(d) for d in self.sent if not is_rtcp(d)]

    def rtcp(self) -> list[object]:
        return [p for d in self.sent if is_rtcp(d) for p in RtcpPacket.parse(d)]


def vp8(payload_type: int, rtx: int) -> list[RTCRtpCodecParameters]:
    return [
        RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=payload_type),
        RTCRtpCodecParameters(
            mimeType="video/rtx", clockRate=90000, payloadType=rtx, parameters={"apt": payload_type}
        ),
    ]


@dataclass
class Path:
    ingress: StreamIngress
    upstream: RecordingTransport
    egress: ViewerEgress
    downstream: RecordingTransport

    async def receive(self, seq: int, payload: bytes, ssrc: int = PUBLISHER_SSRC) -> None:
        packet = RtpPacket(payload_type=VP8_IN, sequence_number=seq, timestamp=seq * 10, ssrc=ssrc)
        packet.payload = payload
        await self.ingress._handle_rtp_packet(packet, arrival_time_ms=seq)


def as_transport(transport: RecordingTransport) -> RTCDtlsTransport:
    return transport  # type: ignore[return-value]  # duck-typed like aiortc's own receivers


@pytest.fixture
async def path() -> AsyncIterator[Path]:
    upstream, downstream = RecordingTransport(), RecordingTransport()
    ingress = StreamIngress("video", as_transport(upstream), rtcp_ssrc=42)
    await ingress.receive(RTCRtpReceiveParameters(codecs=vp8(VP8_IN, RTX_IN), muxId="0"))
    egress = ViewerEgress(ingress, as_transport(downstream))
    await egress.send(
        RTCRtpSendParameters(
            codecs=vp8(VP8_OUT, RTX_OUT), muxId="3", rtcp=RTCRtcpParameters(cname="router")
        )
    )
    yield Path(ingress, upstream, egress, downstream)
    await egress.stop()
    await ingress.stop()


async def test_viewer_starts_at_keyframe_with_its_own_numbering(path: Path) -> None:
    await path.receive(100, DELTA)
    await path.receive(101, MIDDLE)
    assert path.downstream.rtp() == []  # held back: no keyframe yet
    await path.receive(102, KEY)
    await path.receive(103, MIDDLE)
    await path.receive(104, DELTA)
    out = path.downstream.rtp()
    assert [p.payload for p in out] == [KEY, MIDDLE, DELTA]
    assert {p.ssrc for p in out} == {path.egress._ssrc}
    assert {p.payload_type for p in out} == {VP8_OUT}
    assert [p.timestamp for p in out] == [1020, 1030, 1040]
    first = out[0].sequence_number
    assert [p.sequence_number for p in out] == [first, first + 1, first + 2]


async def test_a_late_packet_from_before_the_start_is_dropped(path: Path) -> None:
    await path.receive(200, KEY)
    await path.receive(199, MIDDLE)  # reordered, belongs to a frame the viewer never had
    await path.receive(201, DELTA)
    assert [p.payload for p in path.downstream.rtp()] == [KEY, DELTA]


async def test_nack_is_answered_with_rtx_from_the_shared_history(path: Path) -> None:
    await path.receive(300, KEY)
    await path.receive(301, b"\x80\x80\x06lost-packet")
    first = path.downstream.rtp()[0].sequence_number
    nack = RtcpRtpfbPacket(fmt=RTCP_RTPFB_NACK, ssrc=7, media_ssrc=path.egress._ssrc)
    nack.lost = [first + 1, first + 50]  # the second was never sent: nothing to answer
    await path.egress._handle_rtcp_packet(nack)
    rtx = path.downstream.rtp()[2:]
    assert len(rtx) == 1
    assert rtx[0].payload_type == RTX_OUT and rtx[0].ssrc == path.egress._rtx_ssrc
    assert rtx[0].payload == (first + 1).to_bytes(2, "big") + b"\x80\x80\x06lost-packet"


async def test_publisher_loss_is_nacked_upstream(path: Path) -> None:
    await path.receive(400, KEY)
    await path.receive(403, DELTA)
    nacks = [p for p in path.upstream.rtcp() if isinstance(p, RtcpRtpfbPacket)]
    assert [(n.fmt, n.media_ssrc, n.lost) for n in nacks] == [
        (RTCP_RTPFB_NACK, PUBLISHER_SSRC, [401, 402])
    ]


async def test_new_publisher_ssrc_restarts_at_a_keyframe_without_a_numbering_gap(
    path: Path,
) -> None:
    await path.receive(500, KEY)
    await path.receive(501, DELTA)
    await path.receive(9000, DELTA, ssrc=2222)  # new source, new numbering, no keyframe yet
    plis = [p for p in path.upstream.rtcp() if isinstance(p, RtcpPsfbPacket)]
    assert [(p.fmt, p.media_ssrc) for p in plis if p.fmt == RTCP_PSFB_PLI] == [
        (RTCP_PSFB_PLI, 2222)
    ]
    await path.receive(9001, KEY, ssrc=2222)
    await path.receive(9002, DELTA, ssrc=2222)
    out = path.downstream.rtp()
    assert [p.payload for p in out] == [KEY, DELTA, KEY, DELTA]
    first = out[0].sequence_number
    assert [p.sequence_number for p in out] == [(first + i) & 0xFFFF for i in range(4)]


async def test_viewer_pli_and_bitrate_cap_go_upstream(path: Path) -> None:
    await path.receive(600, KEY)
    pli = RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=7, media_ssrc=path.egress._ssrc)
    await path.egress._handle_rtcp_packet(pli)
    await path.egress._handle_rtcp_packet(pli)  # within the retry interval: not repeated
    await path.ingress.set_bitrate_cap(300_000)
    upstream = [p for p in path.upstream.rtcp() if isinstance(p, RtcpPsfbPacket)]
    assert [p.media_ssrc for p in upstream if p.fmt == RTCP_PSFB_PLI] == [PUBLISHER_SSRC]
    rembs = [unpack_remb_fci(p.fci) for p in upstream if p.fmt == RTCP_PSFB_APP]
    assert rembs == [(300_000, [PUBLISHER_SSRC])]
