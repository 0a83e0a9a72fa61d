"""The publisher's side of a forwarded track: takes RTP off the wire and hands it to the viewers.

It stands where aiortc's `RTCRtpReceiver` would be and keeps only what a forwarding unit needs:
no jitter buffer, no depacketizing, no decoder thread. It still behaves as a proper receiver
towards the publisher: receiver reports (so the publisher measures RTT and loss), NACKs for
packets lost on the way in, PLI when a viewer needs a keyframe, and REMB carrying its bandwidth
estimate capped by `bitrate_cap` and by the lowest of the viewers' own REMB estimates (one
encoding for all, no simulcast: the slowest viewer sets the rate, as in an SFU without layers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from typing import Protocol

from aiortc import RTCDtlsTransport, clock
from aiortc.codecs import is_rtx
from aiortc.rate import RemoteBitrateEstimator
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpReceiveParameters
from aiortc.rtcrtpreceiver import NackGenerator, StreamStatistics
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    AnyRtcpPacket,
    RtcpByePacket,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
    RtpPacket,
    pack_remb_fci,
    unwrap_rtx,
)
from aiortc.stats import RTCInboundRtpStreamStats, RTCStatsReport

from agent.webrtc.seams import dtls
from media.rtp_seams import starts_keyframe

logger = logging.getLogger(__name__)

# Packets kept for answering viewers' NACKs: about 3 s of 800 kbit/s video, 0.6 s of Opus.
HISTORY_SIZE = {"video": 256, "audio": 32}
# A keyframe request still unanswered after this long is sent again.
KEYFRAME_RETRY_SECONDS = 0.5
# Sources whose statistics are kept; a publisher has one media SSRC and one RTX SSRC.
MAX_SOURCES = 4


class Downstream(Protocol):
    """A viewer's sender as the ingress sees it."""

    @property
    def waiting_for_keyframe(self) -> bool: ...

    async def forward(self, packet: RtpPacket, source_seq: int, keyframe_start: bool) -> None:
        """Send `packet` on; it is shared with other viewers and the history, so copy to keep."""
        ...

    def restart(self) -> None:
        """The publisher's sequence numbers start over (new SSRC): map afresh from a keyframe."""
        ...

    @property
    def remote_estimate(self) -> int | None:
        """The viewer's latest REMB (bits per second), None before it sent one."""
        ...


class StreamIngress:
    """Receives one track (audio or video) of a published stream and fans it out unchanged."""

    def __init__(self, kind: str, transport: RTCDtlsTransport, rtcp_ssrc: int) -> None:
        self.kind = kind
        self.codec: RTCRtpCodecParameters | None = None
        self.bitrate_cap: int | None = None
        self.media_ssrc: int | None = None
        self.packets_forwarded = 0
        self.keyframe_requests_sent = 0
        self._enabled = True
        self._track: object | None = None
        self._transport = transport
        self._rtcp_ssrc = rtcp_ssrc
        self._codecs: dict[int, RTCRtpCodecParameters] = {}
        self._rtx_ssrc: dict[int, int] = {}
        self._downstream: set[Downstream] = set()
        self._history: list[tuple[int, RtpPacket] | None] = [None] * HISTORY_SIZE[kind]
        self._sources: dict[int, StreamStatistics] = {}
        self._lsr: dict[int, tuple[int, float]] = {}
        self._nack = NackGenerator() if kind == "video" else None
        self._estimator = RemoteBitrateEstimator() if kind == "video" else None
        self._estimate: int | None = None
        self._keyframe_requested_at: float | None = None
        self._rtcp_task: asyncio.Task[None] | None = None
        self._stats_id = f"inbound-rtp_{uuid.uuid4()}"

    # --- what RTCPeerConnection and the transceiver call -------------------------------------

    @property
    def transport(self) -> RTCDtlsTransport:
        return self._transport

    @property
    def track(self) -> object | None:
        # aiortc attaches a RemoteStreamTrack here; nothing ever reads it, so nothing queues.
        return self._track

    def setTransport(self, transport: RTCDtlsTransport) -> None:
        self._transport = transport

    async def receive(self, parameters: RTCRtpReceiveParameters) -> None:
        if self._rtcp_task is not None:
            return
        for codec in parameters.codecs:
            if codec.payloadType is not None:
                self._codecs[codec.payloadType] = codec
        for encoding in parameters.encodings:
            if encoding.rtx:
                self._rtx_ssrc[encoding.rtx.ssrc] = encoding.ssrc
        dtls.register_receiver(self._transport, self, parameters)
        self._rtcp_task = asyncio.create_task(self._run_rtcp())

    async def stop(self) -> None:
        self._downstream.clear()
        if self._rtcp_task is None:
            return
        dtls.unregister_receiver(self._transport, self)
        self._rtcp_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._rtcp_task

    def _handle_disconnect(self) -> None:
        """The publisher's transport went away; the router learns it from the connection state."""

    def _set_rtcp_ssrc(self, ssrc: int) -> None:
        self._rtcp_ssrc = ssrc

    async def getStats(self) -> RTCStatsReport:
        report = RTCStatsReport()
        for ssrc, source in self._sources.items():
            report.add(
                RTCInboundRtpStreamStats(
                    timestamp=clock.current_datetime(),
                    type="inbound-rtp",
                    id=f"{self._stats_id}_{ssrc}",
                    ssrc=ssrc,
                    kind=self.kind,
                    transportId=dtls.stats_id(self._transport),
                    packetsReceived=source.packets_received,
                    packetsLost=source.packets_lost,
                    jitter=source.jitter,
                )
            )
        report.update(dtls.transport_stats(self._transport))
        return report

    # --- what the viewers' senders call ------------------------------------------------------

    async def attach(self, downstream: Downstream) -> None:
        self._downstream.add(downstream)
        if downstream.waiting_for_keyframe:
            await self.request_keyframe()

    def detach(self, downstream: Downstream) -> None:
        self._downstream.discard(downstream)

    async def viewer_estimate_changed(self) -> None:
        """A viewer sent REMB (per RTCP packet, not per RTP): pass the lowest estimate on."""
        await self._send_remb()

    def history_get(self, source_seq: int) -> RtpPacket | None:
        entry = self._history[source_seq % len(self._history)]
        if entry is None or entry[0] != source_seq:
            return None
        return entry[1]

    async def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe (PLI), at most once per retry interval."""
        if self.kind != "video" or self.media_ssrc is None:
            return  # the RTCP loop asks again once the publisher's SSRC is known
        now = time.monotonic()
        pending = self._keyframe_requested_at
        if pending is not None and now - pending < KEYFRAME_RETRY_SECONDS:
            return
        self._keyframe_requested_at = now
        self.keyframe_requests_sent += 1
        packet = RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=self._rtcp_ssrc, media_ssrc=self.media_ssrc)
        await self._send_rtcp(packet)

    async def set_bitrate_cap(self, bitrate: int) -> None:
        self.bitrate_cap = bitrate
        await self._send_remb()

    # --- RTP and RTCP from the publisher -----------------------------------------------------

    async def _handle_rtp_packet(self, packet: RtpPacket, arrival_time_ms: int) -> None:
        if not self._enabled:
            return
        codec = self._codecs.get(packet.payload_type)
        if codec is None:
            return
        self._count(packet, codec.clockRate)

        if self._estimator is not None and packet.extensions.abs_send_time is not None:
            remb = self._estimator.add(
                abs_send_time=packet.extensions.abs_send_time,
                arrival_time_ms=arrival_time_ms,
                payload_size=len(packet.payload) + packet.padding_size,
                ssrc=packet.ssrc,
            )
            if remb is not None:
                self._estimate = remb[0]
                await self._send_remb()

        if is_rtx(codec):
            unwrapped = self._unwrap(packet, codec)
            if unwrapped is None:
                return
            packet, codec = unwrapped
        if packet.ssrc != self.media_ssrc:
            await self._new_source(packet.ssrc)

        if self._nack is not None and self._nack.add(packet):
            nack = RtcpRtpfbPacket(
                fmt=RTCP_RTPFB_NACK, ssrc=self._rtcp_ssrc, media_ssrc=packet.ssrc
            )
            nack.lost = sorted(self._nack.missing)
            await self._send_rtcp(nack)

        seq = packet.sequence_number
        self._history[seq % len(self._history)] = (seq, packet)
        keyframe_start = self.kind == "video" and starts_keyframe(codec.name, packet.payload)
        if keyframe_start:
            self._keyframe_requested_at = None
        self.packets_forwarded += 1
        for downstream in tuple(self._downstream):
            try:
                await downstream.forward(packet, seq, keyframe_start)
            except Exception:
                # Raised here it would end the publisher's transport loop for every viewer.
                logger.exception("forwarding to a viewer failed; that viewer gets no more media")
                self.detach(downstream)

    async def _handle_rtcp_packet(self, packet: AnyRtcpPacket) -> None:
        if isinstance(packet, RtcpSrPacket):
            ntp_middle = (packet.sender_info.ntp_timestamp >> 16) & 0xFFFFFFFF
            if packet.ssrc in self._sources:
                self._lsr[packet.ssrc] = (ntp_middle, time.time())
        elif isinstance(packet, RtcpByePacket):
            logger.debug("publisher sent BYE for %s", packet.sources)

    async def _new_source(self, ssrc: int) -> None:
        """A new media SSRC brings its own sequence numbers: history and NACK state are void."""
        known = self.media_ssrc is not None
        self.media_ssrc = ssrc
        if not known:
            return
        self._history = [None] * len(self._history)
        self._nack = NackGenerator() if self.kind == "video" else None
        self._keyframe_requested_at = None
        for downstream in self._downstream:
            downstream.restart()
        if any(d.waiting_for_keyframe for d in self._downstream):
            await self.request_keyframe()

    def _unwrap(
        self, packet: RtpPacket, codec: RTCRtpCodecParameters
    ) -> tuple[RtpPacket, RTCRtpCodecParameters] | None:
        original_ssrc = self._rtx_ssrc.get(packet.ssrc, self.media_ssrc)
        apt = codec.parameters.get("apt")
        if original_ssrc is None or len(packet.payload) < 2 or not isinstance(apt, int):
            return None
        media_codec = self._codecs.get(apt)
        if media_codec is None:
            return None
        return unwrap_rtx(packet, payload_type=apt, ssrc=original_ssrc), media_codec

    def _count(self, packet: RtpPacket, clock_rate: int) -> None:
        source = self._sources.get(packet.ssrc)
        if source is None:
            if len(self._sources) >= MAX_SOURCES:
                oldest = next(iter(self._sources))
                del self._sources[oldest]
                self._lsr.pop(oldest, None)
            source = self._sources[packet.ssrc] = StreamStatistics(clock_rate)
        source.add(packet)

    # --- RTCP to the publisher ---------------------------------------------------------------

    async def _send_remb(self) -> None:
        if self.media_ssrc is None or self.kind != "video":
            return
        viewers = [d.remote_estimate for d in self._downstream]
        limits = (self._estimate, self.bitrate_cap, *viewers)
        candidates = [b for b in limits if b is not None]
        if not candidates:
            return
        packet = RtcpPsfbPacket(
            fmt=RTCP_PSFB_APP,
            ssrc=self._rtcp_ssrc,
            media_ssrc=0,
            fci=pack_remb_fci(min(candidates), [self.media_ssrc]),
        )
        await self._send_rtcp(packet)

    async def _send_rtcp(self, packet: AnyRtcpPacket) -> None:
        with contextlib.suppress(ConnectionError):
            await dtls.transmit(self._transport, bytes(packet))

    async def _run_rtcp(self) -> None:
        while True:
            await asyncio.sleep(0.5 + random.random())
            reports = [self._report(ssrc, source) for ssrc, source in self._sources.items()]
            if reports:
                await self._send_rtcp(RtcpRrPacket(ssrc=self._rtcp_ssrc, reports=reports))
            if self.bitrate_cap is not None:
                await self._send_remb()  # repeated so that a lost REMB cannot lift the cap
            if any(d.waiting_for_keyframe for d in self._downstream):
                await self.request_keyframe()

    def _report(self, ssrc: int, source: StreamStatistics) -> RtcpReceiverInfo:
        lsr, dlsr = 0, 0
        if ssrc in self._lsr:
            lsr, received_at = self._lsr[ssrc]
            delay = time.time() - received_at
            if 0 < delay < 65536:
                dlsr = int(delay * 65536)
        return RtcpReceiverInfo(
            ssrc=ssrc,
            fraction_lost=source.fraction_lost,
            packets_lost=source.packets_lost,
            highest_sequence=source.max_seq or 0,
            jitter=source.jitter,
            lsr=lsr,
            dlsr=dlsr,
        )
