"""A cheaper way for each RTP packet through aiortc, for processes that carry hundreds of streams.

A load test's cost is per packet: 160 audio-only participants move 16,000 packets a second.
Profiled in steady state (py-spy, `benchmarks/bench_density.py --config agent-audio`), aiortc
spends, on top of the socket call and SRTP themselves:

- sending: five coroutines deep per packet (DTLS transport -> ICE transport -> aioice
  connection -> protocol -> asyncio transport), and two `datetime`-based NTP clock reads
  (`aiortc.clock`, about 6% of the process on their own);
- receiving: a `Queue.put` in aioice's connection, a wake-up of the DTLS transport's task,
  the queue's `get`, then the same in reverse order: a task switch per packet.

`install_clock()`, `install_send()` and `install_receive()` (the seams "clock", "send_rtp" and
"receive_now" of `agent.webrtc.seams.install()`, never done on import) change three things,
each keeping what aiortc computes:

- `aiortc.clock.current_ntp_time` / `current_ms` read `time.time()` instead of building
  timezone-aware datetimes: the same values;
- `RTCDtlsTransport._send_rtp` protects and hands the packet straight to the nominated
  pair's datagram transport (TURN and anything else still go through the protocol);
- aioice's `Connection.data_received` hands SRTP packets straight to the DTLS transport when
  every receiver on it is received directly (`receive_directly`: the agent's light receiver
  of `media/rtp_seams.py` and the router's ingress): unprotect, parse, route and the
  receiver's handler run in the socket's read callback, with no queue or task switch.
  Anything else (DTLS records, SRTCP, a receiver that decodes, packets queued before) keeps
  aiortc's path and its order.

`send_rtp`, `run_eagerly` and `receive_directly` work whether or not the seams are installed
(without "receive_now" a directly received receiver's packets just keep aiortc's queue).
This module reaches into aiortc's and aioice's private state (name-mangled counters, the
nominated pairs, the receive queue; declared below): after an upgrade of either, check it with
`tests/test_seams.py` and `tests/test_packet_path.py`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

import pylibsrtp
from aioice.ice import Connection, StunProtocol
from aiortc import clock
from aiortc.rtcdtlstransport import RTCDtlsTransport, State
from aiortc.rtp import RtpPacket, is_rtcp

from agent.webrtc.seams import udp_gso
from agent.webrtc.seams.private import mangled, reaches
from agent.webrtc.seams.versions import check

__all__ = [
    "SYNC_HANDLER",
    "PacketHandler",
    "current_ms",
    "current_ntp_time",
    "install_clock",
    "install_receive",
    "install_send",
    "receive_directly",
    "run_eagerly",
    "send_rtp",
    "send_rtp_batch",
]

_DTLS = "aiortc.rtcdtlstransport.RTCDtlsTransport"
reaches(_DTLS, "class", "_send_rtp")
reaches(
    _DTLS,
    "instance",
    "_state",
    "_tx_srtp",
    "_rx_srtp",
    "_rtp_router",
    "_rtp_header_extensions_map",
    *(mangled("RTCDtlsTransport", n) for n in ("tx_bytes", "tx_packets", "rx_bytes", "rx_packets")),
)
reaches("aiortc.rtcicetransport.RTCIceTransport", "instance", "_connection")
reaches("aioice.ice.Connection", "class", "data_received")
reaches("aioice.ice.Connection", "instance", "_nominated", "_queue")
reaches("aiortc.rtcrtpreceiver.RTCRtpReceiver", "class", "_handle_rtp_packet")
reaches("aiortc.clock", "module", "current_ntp_time", "current_ms")

PacketHandler = Callable[[RtpPacket, int], None]
"""`handler(packet, arrival_time_ms)`: a directly received receiver's handler, which never
blocks."""

SYNC_HANDLER = "_handle_rtp_packet_now"
"""The receiver attribute that holds its `PacketHandler`."""

_NTP_OFFSET = 2_208_988_800
"""Seconds from the NTP epoch (1900) to the Unix epoch (1970)."""

_RECEIVE_NOW = "_auvious_receive_now"

log = logging.getLogger(__name__)
_resumed: set[asyncio.Task[None]] = set()


def current_ntp_time() -> int:
    """64-bit NTP time, as `aiortc.clock.current_ntp_time` computes it from a datetime."""
    now = time.time()
    seconds = int(now)
    microseconds = int((now - seconds) * 1e6)  # truncated, as datetime's: below 10**6
    return ((seconds + _NTP_OFFSET) << 32) | ((microseconds << 32) // 1_000_000)


def current_ms() -> int:
    """Milliseconds since the NTP epoch, as `aiortc.clock.current_ms`."""
    return int((time.time() + _NTP_OFFSET) * 1000)


def _protect(dtls: RTCDtlsTransport, data: bytes) -> tuple[bytes, Any]:
    """The SRTP(C) packet and the candidate pair it leaves on; ConnectionError as aiortc's."""
    if dtls._state != State.CONNECTED:
        raise ConnectionError("Cannot send encrypted RTP, not connected")
    data = dtls._tx_srtp.protect_rtcp(data) if is_rtcp(data) else dtls._tx_srtp.protect(data)
    pair = dtls.transport._connection._nominated.get(1)
    if pair is None:
        raise ConnectionError("Cannot send data, not connected")
    return data, pair


def _sent(dtls: RTCDtlsTransport, data: bytes) -> None:
    dtls._RTCDtlsTransport__tx_bytes += len(data)  # type: ignore[attr-defined]
    dtls._RTCDtlsTransport__tx_packets += 1  # type: ignore[attr-defined]


def _send_now(data: bytes, pair: Any) -> bool:
    protocol = pair.protocol
    if type(protocol) is StunProtocol and protocol.transport is not None:
        protocol.transport.sendto(data, pair.remote_addr)
        return True
    return False  # e.g. through a TURN allocation: the protocol's own (asynchronous) way


async def _send_rtp(self: RTCDtlsTransport, data: bytes) -> None:
    later = send_rtp(self, data)
    if later is not None:
        await later


def send_rtp(dtls: RTCDtlsTransport, data: bytes) -> Coroutine[Any, Any, None] | None:
    """`dtls._send_rtp(data)` without a coroutine where the socket takes it at once (None);
    else what to await. Raises ConnectionError as aiortc does when not connected."""
    data, pair = _protect(dtls, data)
    return _send_protected(dtls, data, pair)


def _send_protected(
    dtls: RTCDtlsTransport, data: bytes, pair: Any
) -> Coroutine[Any, Any, None] | None:
    if _send_now(data, pair):
        _sent(dtls, data)
        return None

    async def by_protocol() -> None:
        await pair.protocol.send_data(data, pair.remote_addr)
        _sent(dtls, data)

    return by_protocol()


def send_rtp_batch(dtls: RTCDtlsTransport, packets: list[bytes]) -> None:
    """`send_rtp` for several RTP packets of one sender, in order: one GSO `sendmsg`
    (`udp_gso`) where it can (a video frame's packets), else one send each, run eagerly.
    Raises ConnectionError as aiortc does when not connected, before any is sent."""
    if len(packets) > 1 and udp_gso.enabled():
        protected = [_protect(dtls, data) for data in packets]
        pair = protected[-1][1]
        datagrams = [data for data, _ in protected]
        protocol = pair.protocol
        if type(protocol) is StunProtocol and udp_gso.send_segments(
            protocol.transport, datagrams, pair.remote_addr
        ):
            for data in datagrams:
                _sent(dtls, data)
            return
        for data in datagrams:
            later = _send_protected(dtls, data, pair)
            if later is not None:
                run_eagerly(later)
        return
    for data in packets:
        later = send_rtp(dtls, data)
        if later is not None:  # e.g. through TURN
            run_eagerly(later)


def _data_received(self: Connection, data: bytes, component: int) -> None:
    receive_now: Callable[[bytes], bool] | None = self.__dict__.get(_RECEIVE_NOW)
    if receive_now is not None and self._queue.empty() and receive_now(data):
        return
    self._queue.put_nowait((data, component))


def _receive_now(dtls: RTCDtlsTransport, data: bytes) -> bool:
    """Handle one SRTP packet in the read callback; False leaves it to aiortc's task."""
    if not 127 < data[0] < 192 or dtls._state != State.CONNECTED or is_rtcp(data):
        return False
    router = dtls._rtp_router
    if not router.receivers or not all(hasattr(r, SYNC_HANDLER) for r in router.receivers):
        return False
    dtls._RTCDtlsTransport__rx_bytes += len(data)  # type: ignore[attr-defined]
    dtls._RTCDtlsTransport__rx_packets += 1  # type: ignore[attr-defined]
    arrival_time_ms = current_ms()
    try:
        data = dtls._rx_srtp.unprotect(data)
        packet = RtpPacket.parse(data, dtls._rtp_header_extensions_map)
    except (pylibsrtp.Error, ValueError):
        return True  # aiortc drops these too (and logs at debug level)
    receiver = router.route_rtp(packet)
    if receiver is not None:
        getattr(receiver, SYNC_HANDLER)(packet, arrival_time_ms)
    return True


def run_eagerly(work: Coroutine[Any, Any, None]) -> None:
    """Run `work` now up to its first wait, and the rest in a task (what Python 3.12's eager
    tasks do)."""
    try:
        waiting = work.send(None)
    except StopIteration:
        return
    except Exception:
        log.exception("packet work failed")  # one packet lost, not the connection
        return
    task = asyncio.ensure_future(_resume(work, waiting))
    _resumed.add(task)
    task.add_done_callback(_resumed.discard)


async def _resume(work: Coroutine[Any, Any, None], waiting: Any) -> None:
    """Step `work` as a task steps its coroutine: wait for what it yielded, send None."""
    try:
        while True:
            if waiting is None:
                await asyncio.sleep(0)
            else:
                await asyncio.wait([waiting])  # its outcome is read by `work` itself
            try:
                waiting = work.send(None)
            except StopIteration:
                return
    except asyncio.CancelledError:
        work.close()
        raise
    except Exception:
        log.exception("packet work failed")


def receive_directly(receiver: Any) -> None:
    """Let the connection of `receiver` (aiortc's or one of the same shape) run the receiver's
    packet handler in the socket's read callback, eagerly (`run_eagerly`: up to its first
    real wait, and sending through `send_rtp`'s socket way never waits).

    Packets then skip aiortc's receive queue whenever every receiver of the connection is
    received directly (see the module's docstring). Call once the receiver's handler is the
    one to use (e.g. after `count_frames_from_rtp`), before media flows."""
    check("aiortc", "aioice")
    handle_rtp_packet = receiver._handle_rtp_packet

    def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
        run_eagerly(handle_rtp_packet(packet, arrival_time_ms))

    setattr(receiver, SYNC_HANDLER, handle)
    dtls = receiver.transport
    setattr(dtls.transport._connection, _RECEIVE_NOW, partial(_receive_now, dtls))


def install_clock() -> bool:
    """aiortc's NTP clock reads `time.time()`; True if this call installed it."""
    if clock.current_ntp_time is current_ntp_time:
        return False
    clock.current_ntp_time = current_ntp_time
    clock.current_ms = current_ms
    return True


def install_send() -> bool:
    """RTP leaves by `send_rtp`'s socket way; True if this call installed it."""
    if RTCDtlsTransport._send_rtp is _send_rtp:
        return False
    RTCDtlsTransport._send_rtp = _send_rtp  # type: ignore[method-assign]
    return True


def install_receive() -> bool:
    """Directly received receivers get SRTP in the read callback; True if this call did it."""
    if Connection.data_received is _data_received:
        return False
    Connection.data_received = _data_received  # type: ignore[method-assign]
    return True


def clock_installed() -> bool:
    return clock.current_ntp_time is current_ntp_time


def send_installed() -> bool:
    return RTCDtlsTransport._send_rtp is _send_rtp


def receive_installed() -> bool:
    return Connection.data_received is _data_received
