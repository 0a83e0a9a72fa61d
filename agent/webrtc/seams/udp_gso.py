"""A video frame's SRTP packets leave in one `sendmsg` with UDP generic segmentation offload.

Sending is a system call per packet: `sendto` was 16% of a load process (py-spy). Linux's UDP
GSO (`UDP_SEGMENT`, kernel 4.18+) takes one buffer and a segment size and sends the datagrams
the buffer splits into, which the receiving end sees as separate packets; every segment but the
last has the segment size and the last may be shorter. A VP8 frame's packets are just that
(full 1300-byte payloads and a shorter last one; SRTP adds the same tag to each). Measured here
(`benchmarks/bench_rtp_send.py`): see `benchmarks/RESULTS.md`.

Only asyncio's selector datagram transport is used this way (its socket, `_sock`, and only when
nothing waits in its write buffer, so the order of packets is kept); uvloop, TURN and anything
else keep the per-packet way. Linux only; on unless `AUVIOUS_UDP_GSO=0`. (It was off for a
while: a Chromium viewer of the agents' video stopped decoding in some runs with it on. The
cause was elsewhere, VP8 picture ids numbered per packet across a shared encoder's rungs, and
the fault came with GSO off as well; since that fix the browser example decoded in 6 of 6 runs
with GSO and 6 of 6 without.) A socket or kernel
that refuses GSO (EIO, EINVAL, ENOPROTOOPT) turns it off for the process, with one log line,
and that batch goes packet by packet.
"""

from __future__ import annotations

import asyncio.selector_events as _selector_events
import errno
import logging
import os
import socket
import struct
import sys
from typing import Any

from agent.webrtc.seams.private import reaches, read
from agent.webrtc.seams.versions import mismatch

__all__ = ["ENV", "MAX_SEGMENTS", "batches_sent", "enabled", "send_segments"]

reaches("asyncio.selector_events", "module", "_SelectorDatagramTransport")
reaches("asyncio.selector_events._SelectorDatagramTransport", "instance", "_sock", "_buffer")

ENV = "AUVIOUS_UDP_GSO"
"""`0` turns the GSO send off (the per-packet way), e.g. to compare."""

MAX_SEGMENTS = 64
"""The kernel's limit of segments per GSO send (UDP_MAX_SEGMENTS)."""

_SOL_UDP = getattr(socket, "SOL_UDP", 17)
_UDP_SEGMENT = getattr(socket, "UDP_SEGMENT", 103)  # linux/udp.h; Python names it from 3.12
_MAX_BYTES = 65_000  # below the 64 KiB a UDP send can carry, headers included
_REFUSED = (errno.EIO, errno.EINVAL, errno.ENOPROTOOPT, errno.EOPNOTSUPP)
_SELECTOR_TRANSPORT: Any = read(_selector_events, "_SelectorDatagramTransport")

log = logging.getLogger(__name__)


class _State:
    on = sys.platform == "linux" and mismatch("python") is None
    batches = 0


def batches_sent() -> int:
    """How many GSO sends this process made (to tell whether the way was taken)."""
    return _State.batches


def enabled() -> bool:
    """Whether batches may go by GSO in this process now."""
    return _State.on and os.environ.get(ENV, "1") != "0"


def send_segments(transport: Any, datagrams: list[bytes], address: Any) -> bool:
    """Send `datagrams` (2 or more; every one but the last of the same size, the last no
    larger) to `address` in one GSO `sendmsg` on `transport`'s socket; False, having sent
    nothing, when that cannot be done here (the caller sends them one by one)."""
    size = len(datagrams[0])
    if (
        len(datagrams) > MAX_SEGMENTS
        or len(datagrams[-1]) > size
        or size * len(datagrams) > _MAX_BYTES
        or type(transport) is not _SELECTOR_TRANSPORT
        or transport._buffer
        or transport.is_closing()
        or not enabled()
    ):
        return False
    for datagram in datagrams[1:-1]:
        if len(datagram) != size:
            return False
    option = [(_SOL_UDP, _UDP_SEGMENT, struct.pack("=H", size))]
    try:
        transport._sock.sendmsg([b"".join(datagrams)], option, 0, address)
    except (BlockingIOError, InterruptedError):
        return False  # the socket is full: asyncio's transport buffers them, in order
    except OSError as error:
        if error.errno in _REFUSED:
            _State.on = False
            log.info("UDP GSO refused (%s): RTP is sent one packet per call from now on", error)
        return False  # one by one, where asyncio's transport reports what fails
    _State.batches += 1
    return True
