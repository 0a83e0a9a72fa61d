"""Per-participant shaping: each datagram an ICE socket sends or receives goes through a hook.

`shape(ice_transport, egress, ingress)` wraps every socket aioice gathered for the transport:
the socket's `sendto` (what aioice, and `packet_path`'s direct send, call for every STUN,
DTLS, RTP and RTCP datagram) hands the datagram to `egress(deliver, data, addr)`, and the
protocol's `datagram_received` (what the asyncio transport, or the "udp_reads" seam, calls)
to `ingress(deliver, data, addr)`. The hooks decide when, or whether, `deliver` runs. Only the
objects given change (instance attributes). A relayed (TURN) candidate's socket is the TURN
client's UDP socket to its server: that one is hooked, so what is relayed crosses the
participant's link as on a real network (TURN over TCP or TLS is left as it is: a byte
stream cannot lose a datagram). A packet delivered late to a socket closed meanwhile is
dropped, as the network would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aioice.ice import StunProtocol
from aioice.turn import TurnClientUdpProtocol, TurnTransport
from aiortc import RTCIceTransport

from agent.webrtc.seams.ice import connection_of, protocols
from agent.webrtc.seams.private import mangled, reaches, read

__all__ = ["Hook", "shape", "shaped"]

Hook = Callable[[Callable[[bytes, Any], None], bytes, Any], None]
"""`hook(deliver, data, addr)`: pass `data` on by calling `deliver(data, addr)`, now or later."""

_SHAPED = "_auvious_shaped"
reaches("aioice.turn", "source", "__inner_protocol")  # TurnTransport's TURN client
_INNER_PROTOCOL = mangled("TurnTransport", "inner_protocol")


def shaped(protocol: StunProtocol) -> bool:
    return bool(getattr(protocol, _SHAPED, False))


def shape(transport: RTCIceTransport, egress: Hook, ingress: Hook) -> int:
    """Hook every socket of `transport` not hooked yet; how many were hooked now."""
    count = 0
    for protocol in protocols(connection_of(transport)):
        socket = protocol.transport
        if type(protocol) is not StunProtocol or socket is None or shaped(protocol):
            continue
        if isinstance(socket, TurnTransport):
            setattr(protocol, _SHAPED, True)  # its TURN client's socket, if UDP, instead
            inner = read(socket, _INNER_PROTOCOL)
            if not isinstance(inner, TurnClientUdpProtocol) or inner.transport is None:
                continue
            _shape_one(inner, inner.transport, egress, ingress)
        else:
            _shape_one(protocol, socket, egress, ingress)
        count += 1
    return count


def _shape_one(protocol: Any, socket: Any, egress: Hook, ingress: Hook) -> None:
    send = socket.sendto
    receive = protocol.datagram_received

    def deliver_out(data: bytes, addr: Any) -> None:
        if not socket.is_closing():
            send(data, addr)

    def deliver_in(data: bytes, addr: Any) -> None:
        if not socket.is_closing():
            receive(data, addr)

    def sendto(data: bytes, addr: Any = None) -> None:
        egress(deliver_out, data, addr)

    def datagram_received(data: bytes, addr: Any) -> None:
        ingress(deliver_in, data, addr)

    socket.sendto = sendto
    protocol.datagram_received = datagram_received
    setattr(protocol, _SHAPED, True)
