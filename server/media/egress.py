"""The viewer's side of a forwarded track: re-labels the publisher's packets and sends them on.

It stands where aiortc's `RTCRtpSender` would be, so no encoder exists. Each packet leaves with
this viewer's SSRC, payload type, MID and a sequence number shifted by a fixed offset, so the
viewer's NACKs map straight back into the publisher's numbering and the shared packet history.
The payload and RTP timestamp are untouched. A video viewer starts at a keyframe.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid

from aiortc import RTCDtlsTransport, clock
from aiortc.codecs import is_rtx
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    AnyRtcpPacket,
    HeaderExtensionsMap,
    RtcpByePacket,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSdesPacket,
    RtcpSenderInfo,
    RtcpSourceInfo,
    RtcpSrPacket,
    RtpPacket,
    unpack_remb_fci,
    wrap_rtx,
)
from aiortc.stats import (
    RTCOutboundRtpStreamStats,
    RTCRemoteInboundRtpStreamStats,
    RTCStatsReport,
)
from aiortc.utils import random16, random32, uint16_add, uint16_gt

from agent.webrtc.seams import dtls
from server.media.ingress import StreamIngress

# Seconds between 1900 (NTP) and 1970 (Unix) epochs.
_NTP_OFFSET = 2208988800
# Packets this far behind the newest one are treated as older than the viewer's start.
_REORDER_WINDOW = 0x4000
_RTT_ALPHA = 0.85


class ViewerEgress:
    """Sends one track of a published stream to one viewer, without touching the payload."""

    def __init__(self, source: StreamIngress, transport: RTCDtlsTransport) -> None:
        self.kind = source.kind
        self.packets_sent = 0
        self.packets_retransmitted = 0
        self.remote_estimate: int | None = None
        self._ssrc = random32()
        self._rtx_ssrc = random32()
        self._stream_id = str(uuid.uuid4())
        self._track_id = str(uuid.uuid4())
        self._enabled = True
        self._source = source
        self._transport = transport
        self._ext_map = HeaderExtensionsMap()
        self._mid: str | None = None
        self._cname: str | None = None
        self._payload_type = 0
        self._rtx_payload_type: int | None = None
        self._first_seq = random16() % 32768  # lower half: no early wrap (see aiortc's sender)
        self._rtx_seq = random16() % 32768
        self._offset: int | None = None
        self._floor = 0
        self._last_seq = 0  # highest sequence number sent
        self._octets_sent = 0
        self._last_sent_at = 0.0
        self._last_rtp_timestamp = 0
        self._lsr: tuple[int, float] | None = None
        self._rtt: float | None = None
        self._remote_report: RTCRemoteInboundRtpStreamStats | None = None
        self._rtcp_task: asyncio.Task[None] | None = None
        self._stopped = False

    # --- what RTCPeerConnection and the transceiver call -------------------------------------

    @property
    def transport(self) -> RTCDtlsTransport:
        return self._transport

    @property
    def track(self) -> None:
        return None

    def setTransport(self, transport: RTCDtlsTransport) -> None:
        self._transport = transport

    async def send(self, parameters: RTCRtpSendParameters) -> None:
        if self._rtcp_task is not None or self._stopped:
            return
        media = parameters.codecs[0]
        self._payload_type = media.payloadType or 0  # always set once negotiated
        for codec in parameters.codecs:
            if is_rtx(codec) and codec.parameters.get("apt") == media.payloadType:
                self._rtx_payload_type = codec.payloadType
        self._mid = parameters.muxId
        self._cname = parameters.rtcp.cname
        self._ext_map.configure(parameters)
        dtls.register_sender(self._transport, self, parameters)
        self._rtcp_task = asyncio.create_task(self._run_rtcp())
        await self._source.attach(self)

    async def stop(self) -> None:
        self._stopped = True
        self._source.detach(self)
        if self._rtcp_task is None:
            return
        dtls.unregister_sender(self._transport, self)
        self._rtcp_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._rtcp_task
        await self._send_rtcp([RtcpByePacket(sources=[self._ssrc])])

    async def getStats(self) -> RTCStatsReport:
        report = RTCStatsReport()
        report.add(
            RTCOutboundRtpStreamStats(
                timestamp=clock.current_datetime(),
                type="outbound-rtp",
                id=f"outbound-rtp_{self._track_id}",
                ssrc=self._ssrc,
                kind=self.kind,
                transportId=dtls.stats_id(self._transport),
                packetsSent=self.packets_sent,
                bytesSent=self._octets_sent,
                trackId=self._track_id,
            )
        )
        if self._remote_report is not None:
            report.add(self._remote_report)
        report.update(dtls.transport_stats(self._transport))
        return report

    # --- forwarding --------------------------------------------------------------------------

    @property
    def waiting_for_keyframe(self) -> bool:
        return self.kind == "video" and self._offset is None and not self._stopped

    def restart(self) -> None:
        if self._offset is not None:
            # Carry on from the last number sent, so the viewer sees one unbroken sequence.
            self._first_seq = uint16_add(self._last_seq, 1)
            self._offset = None

    async def forward(self, packet: RtpPacket, source_seq: int, keyframe_start: bool) -> None:
        if not self._enabled or self._stopped:
            return
        if self._offset is None:
            if self.kind == "video" and not keyframe_start:
                return
            self._offset = (self._first_seq - source_seq) & 0xFFFF
            self._floor = source_seq
        elif uint16_gt(self._floor, source_seq):
            return  # older than this viewer's first packet
        elif (source_seq - self._floor) & 0xFFFF > _REORDER_WINDOW:
            self._floor = (source_seq - _REORDER_WINDOW) & 0xFFFF
        packet = self._relabel(packet, source_seq)
        if uint16_gt(packet.sequence_number, self._last_seq) or self.packets_sent == 0:
            self._last_seq = packet.sequence_number
        data = packet.serialize(self._ext_map)
        self._last_sent_at = time.time()
        self._last_rtp_timestamp = packet.timestamp
        self.packets_sent += 1
        self._octets_sent += len(packet.payload)
        await self._send(data)

    def _relabel(self, packet: RtpPacket, source_seq: int) -> RtpPacket:
        assert self._offset is not None
        packet.ssrc = self._ssrc
        packet.sequence_number = (source_seq + self._offset) & 0xFFFF
        packet.payload_type = self._payload_type
        packet.extensions.mid = self._mid
        packet.extensions.abs_send_time = int(time.time() * (1 << 18)) & 0xFFFFFF
        return packet

    async def _retransmit(self, seq: int) -> None:
        if self._offset is None:
            return
        source_seq = (seq - self._offset) & 0xFFFF
        if uint16_gt(self._floor, source_seq):
            return
        packet = self._source.history_get(source_seq)
        if packet is None:
            return
        packet = self._relabel(packet, source_seq)
        if self._rtx_payload_type is not None:
            packet = wrap_rtx(
                packet,
                payload_type=self._rtx_payload_type,
                sequence_number=self._rtx_seq,
                ssrc=self._rtx_ssrc,
            )
            self._rtx_seq = uint16_add(self._rtx_seq, 1)
        self.packets_retransmitted += 1
        await self._send(packet.serialize(self._ext_map))

    async def _send(self, data: bytes) -> None:
        with contextlib.suppress(ConnectionError):
            await dtls.transmit(self._transport, data)

    # --- RTCP --------------------------------------------------------------------------------

    async def _handle_rtcp_packet(self, packet: AnyRtcpPacket) -> None:
        if isinstance(packet, RtcpRrPacket | RtcpSrPacket):
            self._take_reports(packet)
        elif isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            for seq in packet.lost:
                await self._retransmit(seq)
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            await self._source.request_keyframe()
        elif isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            with contextlib.suppress(ValueError):
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
                if self._ssrc in ssrcs:
                    self.remote_estimate = bitrate
                    await self._source.viewer_estimate_changed()

    def _take_reports(self, packet: RtcpRrPacket | RtcpSrPacket) -> None:
        for report in packet.reports:
            if report.ssrc != self._ssrc:
                continue
            if self._lsr is not None and self._lsr[0] == report.lsr and report.dlsr:
                rtt = time.time() - self._lsr[1] - report.dlsr / 65536
                previous = rtt if self._rtt is None else self._rtt
                self._rtt = _RTT_ALPHA * previous + (1 - _RTT_ALPHA) * rtt
            self._remote_report = RTCRemoteInboundRtpStreamStats(
                timestamp=clock.current_datetime(),
                type="remote-inbound-rtp",
                id=f"remote-inbound-rtp_{self._track_id}",
                ssrc=packet.ssrc,
                kind=self.kind,
                transportId=dtls.stats_id(self._transport),
                packetsReceived=self.packets_sent - report.packets_lost,
                packetsLost=report.packets_lost,
                jitter=report.jitter,
                roundTripTime=self._rtt,  # type: ignore[arg-type]  # None until measured, as aiortc
                fractionLost=report.fraction_lost,
            )

    async def _run_rtcp(self) -> None:
        while True:
            await asyncio.sleep(0.5 + random.random())
            if not self.packets_sent:
                continue
            ntp = _ntp_time(self._last_sent_at)
            packets: list[AnyRtcpPacket] = [
                RtcpSrPacket(
                    ssrc=self._ssrc,
                    sender_info=RtcpSenderInfo(
                        ntp_timestamp=ntp,
                        rtp_timestamp=self._last_rtp_timestamp,
                        packet_count=self.packets_sent & 0xFFFFFFFF,
                        octet_count=self._octets_sent & 0xFFFFFFFF,
                    ),
                )
            ]
            self._lsr = ((ntp >> 16) & 0xFFFFFFFF, time.time())
            if self._cname is not None:
                source = RtcpSourceInfo(ssrc=self._ssrc, items=[(1, self._cname.encode("utf8"))])
                packets.append(RtcpSdesPacket(chunks=[source]))
            await self._send_rtcp(packets)

    async def _send_rtcp(self, packets: list[AnyRtcpPacket]) -> None:
        await self._send(b"".join(bytes(p) for p in packets))


def _ntp_time(unix_time: float) -> int:
    seconds = unix_time + _NTP_OFFSET
    whole = int(seconds)
    return (whole << 32) | int((seconds - whole) * (1 << 32))
