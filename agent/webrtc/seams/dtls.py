"""aiortc's DTLS transport as a receiver or sender of one's own uses it (the router's forwarding
receiver and sender, swapped in by `agent.webrtc.seams.transceiver`): registering for its
packets, its stats, and sending through it. aiortc's own receivers and senders call these
private methods; nothing public offers them.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from aiortc import RTCDtlsTransport
from aiortc.rtcrtpparameters import RTCRtpReceiveParameters, RTCRtpSendParameters
from aiortc.stats import RTCStatsReport

from agent.webrtc.seams.private import reaches, read

__all__ = [
    "register_receiver",
    "register_sender",
    "stats_id",
    "transmit",
    "transport_stats",
    "unregister_receiver",
    "unregister_sender",
]

reaches(
    "aiortc.rtcdtlstransport.RTCDtlsTransport",
    "class",
    "_register_rtp_receiver",
    "_register_rtp_sender",
    "_unregister_rtp_receiver",
    "_unregister_rtp_sender",
    "_get_stats",
    "_send_rtp",
)
reaches("aiortc.rtcdtlstransport.RTCDtlsTransport", "instance", "_stats_id")


def register_receiver(
    transport: RTCDtlsTransport, receiver: Any, parameters: RTCRtpReceiveParameters
) -> None:
    """Have the DTLS transport route the receiver's SSRCs and payload types to it."""
    read(transport, "_register_rtp_receiver")(receiver, parameters)


def unregister_receiver(transport: RTCDtlsTransport, receiver: Any) -> None:
    read(transport, "_unregister_rtp_receiver")(receiver)


def register_sender(
    transport: RTCDtlsTransport, sender: Any, parameters: RTCRtpSendParameters
) -> None:
    """Have the DTLS transport route RTCP about the sender's SSRCs to it."""
    read(transport, "_register_rtp_sender")(sender, parameters)


def unregister_sender(transport: RTCDtlsTransport, sender: Any) -> None:
    read(transport, "_unregister_rtp_sender")(sender)


def stats_id(transport: RTCDtlsTransport) -> str:
    """The id the transport's own stats carry (what `transportId` of a stream names)."""
    value: str = read(transport, "_stats_id")
    return value


def transport_stats(transport: RTCDtlsTransport) -> RTCStatsReport:
    """The transport's own stats, as aiortc's receivers and senders add them to theirs."""
    report: RTCStatsReport = read(transport, "_get_stats")()
    return report


def transmit(transport: RTCDtlsTransport, data: bytes) -> Awaitable[None]:
    """Protect and send an RTP or RTCP packet (ConnectionError when not connected)."""
    sent: Awaitable[None] = transport._send_rtp(data)
    return sent
