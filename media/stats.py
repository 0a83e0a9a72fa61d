"""aiortc statistics in the units a report wants.

aiortc's `getStats()` quirks handled here: inbound jitter comes in RTP clock units (converted
to seconds), `fractionLost` is the raw RTCP 0-255 value (converted to a fraction), a
receiver that also gets RTX reports its streams under one id so the RTX SSRC can hide the
media SSRC (read per SSRC instead), and there are no per-stream received bytes (bitrate in
is the transport's, which is the stream's with one peer connection per stream).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender

from agent.webrtc.seams.receiver import jitter_seconds, media_streams


@dataclass(frozen=True)
class InboundRtp:
    kind: str
    ssrc: int
    packets_received: int
    packets_lost: int
    jitter_s: float


@dataclass(frozen=True)
class OutboundRtp:
    kind: str
    ssrc: int
    packets_sent: int
    bytes_sent: int
    round_trip_time_s: float | None
    fraction_lost: float | None
    packets_lost: int | None
    bitrate_bps: float | None = None


@dataclass(frozen=True)
class StatsSample:
    at: float
    inbound: list[InboundRtp]
    outbound: list[OutboundRtp]
    bytes_received: int
    bytes_sent: int
    bitrate_in_bps: float | None = None
    bitrate_out_bps: float | None = None


def inbound_rtp(receiver: RTCRtpReceiver) -> list[InboundRtp]:
    """One entry per media SSRC the receiver got (retransmissions counted in their stream)."""
    kind = receiver.track.kind if receiver.track is not None else "unknown"
    return [
        InboundRtp(
            kind=kind,
            ssrc=ssrc,
            packets_received=stream.packets_received,
            packets_lost=stream.packets_lost,
            jitter_s=jitter_seconds(stream),
        )
        for ssrc, stream in media_streams(receiver)
    ]


async def outbound_rtp(sender: RTCRtpSender) -> list[OutboundRtp]:
    """What the sender sent, with RTT and loss from the far end's receiver reports."""
    report = await sender.getStats()
    remote = next((s for s in report.values() if s.type == "remote-inbound-rtp"), None)
    out = []
    for stats in report.values():
        if stats.type != "outbound-rtp":
            continue
        out.append(
            OutboundRtp(
                kind=stats.kind,
                ssrc=stats.ssrc,
                packets_sent=stats.packetsSent,
                bytes_sent=stats.bytesSent,
                round_trip_time_s=remote.roundTripTime if remote else None,
                fraction_lost=remote.fractionLost / 256 if remote else None,
                packets_lost=remote.packetsLost if remote else None,
            )
        )
    return out


def _rate(new: int, old: int, seconds: float) -> float | None:
    return (new - old) * 8 / seconds if seconds > 0 else None


@dataclass
class StatsSampler:
    """Samples a peer connection; bitrates are over the interval since the previous sample."""

    pc: RTCPeerConnection
    previous: StatsSample | None = field(default=None, init=False)

    async def sample(self) -> StatsSample:
        at = time.monotonic()
        inbound = [s for r in self.pc.getReceivers() for s in inbound_rtp(r)]
        outbound: list[OutboundRtp] = []
        bytes_received = bytes_sent = 0
        transports = {}
        for sender in self.pc.getSenders():
            # A closed pc's senders have let go of their tracks (aiortc closes the pc itself
            # when the far end ends DTLS) but keep their counters: what they sent still counts.
            # A sender that never had a track (a viewer's) sent nothing and is left out.
            outbound.extend(
                o for o in await outbound_rtp(sender) if sender.track is not None or o.packets_sent
            )
        report = await self.pc.getStats()
        for stats in report.values():
            if stats.type == "transport":
                transports[stats.id] = stats
        bytes_received = sum(t.bytesReceived for t in transports.values())
        bytes_sent = sum(t.bytesSent for t in transports.values())
        previous = self.previous
        if previous is not None:
            seconds = at - previous.at
            before = {(o.kind, o.ssrc): o.bytes_sent for o in previous.outbound}
            outbound = [
                replace(o, bitrate_bps=_rate(o.bytes_sent, before[(o.kind, o.ssrc)], seconds))
                if (o.kind, o.ssrc) in before
                else o
                for o in outbound
            ]
            sample = StatsSample(
                at,
                inbound,
                outbound,
                bytes_received,
                bytes_sent,
                _rate(bytes_received, previous.bytes_received, seconds),
                _rate(bytes_sent, previous.bytes_sent, seconds),
            )
        else:
            sample = StatsSample(at, inbound, outbound, bytes_received, bytes_sent)
        self.previous = sample
        return sample
