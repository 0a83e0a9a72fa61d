"""ICE sockets read every waiting datagram when they wake up, not one per turn of the event loop.

asyncio's selector datagram transport reads ONE datagram per readiness callback, so each socket
gets one datagram per turn of the event loop. With tens of peer connections in one process (a
scenario's participants and the embedded router) a turn takes 50-150 ms, fewer turns a second
than the 30-60 packets a second of one video stream: the rest waits in the socket's receive
buffer, which aioice enlarges to 256 KiB, i.e. seconds of video. Measured in
`scenarios/ramp-load.yaml` at `--time-scale 0.3` on the shared 2-core machine: a keyframe took
p50 0.24 s / p90 1.4 s / max 3.2 s from the publisher's sender to the router (so a late viewer
waited seconds for its first frame, and ICE/DTLS packets queued behind media too); reading up
to `MAX_READS_PER_WAKEUP` datagrams per wake-up, p50 0.011 s / p90 0.075 s / max 0.26 s.

libuv (so uvloop) does the same: up to 32 datagrams per readiness event. The seam
"udp_reads" of `agent.webrtc.seams.install()` installs it (the CLI, the embedded platform's
router and a participant's start do; importing does not); only transports whose protocol is
aioice's `StunProtocol` change, every other UDP transport of the process keeps asyncio's
behaviour. This reaches into asyncio's private `_SelectorDatagramTransport` (Python 3.11-3.13
share its shape, `versions.PYTHON`); a loop without it (e.g. uvloop) is not affected.
"""

from __future__ import annotations

import asyncio.selector_events as _selector_events
from typing import Any

from aioice.ice import StunProtocol

from agent.webrtc.seams.private import reaches, read

__all__ = ["MAX_READS_PER_WAKEUP", "install", "installed"]

_TRANSPORT = "asyncio.selector_events._SelectorDatagramTransport"
reaches("asyncio.selector_events", "module", "_SelectorDatagramTransport")
reaches(_TRANSPORT, "class", "_read_ready", "_fatal_error", "max_size")
reaches(_TRANSPORT, "instance", "_protocol", "_sock", "_conn_lost", "_closing")

MAX_READS_PER_WAKEUP = 32
"""Bounded, so one flooded socket cannot hold the event loop (libuv's figure)."""

_read_one: Any = None
"""asyncio's own `_read_ready`, kept when the seam is installed."""


def _transport_class() -> Any:
    return read(_selector_events, "_SelectorDatagramTransport")


def _read_ready(transport: Any) -> None:
    if not isinstance(transport._protocol, StunProtocol):
        _read_one(transport)
        return
    for _ in range(MAX_READS_PER_WAKEUP):
        if transport._conn_lost or transport._closing:
            return  # closed by what the previous datagram did: asyncio reads no more either
        try:
            data, addr = transport._sock.recvfrom(transport.max_size)
        except (BlockingIOError, InterruptedError):
            return  # drained
        except OSError as exc:
            transport._protocol.error_received(exc)
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            transport._fatal_error(exc, "Fatal read error on datagram transport")
            return
        transport._protocol.datagram_received(data, addr)


def installed() -> bool:
    return bool(_transport_class()._read_ready is _read_ready)


def install() -> bool:
    """Make aioice's sockets drain on wake-up (idempotent); True if this call installed it."""
    global _read_one
    transport = _transport_class()
    if transport._read_ready is _read_ready:
        return False
    _read_one = read(transport, "_read_ready")
    transport._read_ready = _read_ready
    return True
