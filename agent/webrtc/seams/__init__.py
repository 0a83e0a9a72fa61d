"""Every reach into private state of aiortc, aioice, asyncio and amqtt: an upgrade is checked here.

aiortc offers no public way to receive without decoding, to send a packet without five
coroutines, to swap a transceiver's receiver, or to choose ICE's host addresses; aioice none
to add a late candidate; asyncio's datagram transport reads one datagram per loop turn; amqtt
iterates its subscription table across awaits. The levers for those live in this package and
nowhere else, each declaring the private names it uses (`private.reaches`, checked by
`tests/test_seams.py` against the installed versions).

Nothing is changed on import. Process-wide seams are installed explicitly and idempotently by
`install()`, which the CLI (`run`, `serve`), the embedded platform's router and a
participant's start call; a library user calls it (or not) and sees what it did:

    from agent.webrtc import seams
    seams.install()          # -> frozenset({"clock", "send_rtp", ...}): what is installed
    seams.install(["host_addresses"])      # only that one
    seams.installed()        # what is installed now

Per-object levers (`rtp_push.push_into`, `receiver.take_over_packets`, `transceiver.*`, ...)
change only the object they are given. Everything is version-gated (`versions`): on a library
release the seams were not written for, `install()` and every lever that changes an object
(pushing, taking over a receiver's packets, swapping a transceiver's receiver or sender, choosing
decoders) raise `SeamsUnsupported` before changing anything, so nothing half works; a private
name that is gone anyway raises `SeamBroken` (or AttributeError on the per-packet path) where it
is read, never a quiet default.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from agent.webrtc.seams import ice, packet_path, receiver, udp_reads
from agent.webrtc.seams.private import SeamBroken
from agent.webrtc.seams.versions import SeamsUnsupported, check

__all__ = [
    "SEAMS",
    "Seam",
    "SeamBroken",
    "SeamsUnsupported",
    "install",
    "install_for_command",
    "installed",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Seam:
    """A process-wide change: what it does, the libraries it is gated on, how to apply it."""

    name: str
    does: str
    libraries: tuple[str, ...]
    install: Callable[[], bool]
    installed: Callable[[], bool]


SEAMS: dict[str, Seam] = {
    seam.name: seam
    for seam in (
        Seam(
            "clock",
            "aiortc's NTP clock reads time.time(), not datetimes",
            ("aiortc",),
            packet_path.install_clock,
            packet_path.clock_installed,
        ),
        Seam(
            "send_rtp",
            "RTP goes from the DTLS transport straight to the nominated pair's socket",
            ("aiortc", "aioice"),
            packet_path.install_send,
            packet_path.send_installed,
        ),
        Seam(
            "receive_now",
            "directly received receivers get SRTP in the socket's read callback",
            ("aiortc", "aioice"),
            packet_path.install_receive,
            packet_path.receive_installed,
        ),
        Seam(
            "udp_reads",
            "aioice's sockets read every waiting datagram per wake-up",
            ("python", "aioice"),
            udp_reads.install,
            udp_reads.installed,
        ),
        Seam(
            "host_addresses",
            "ICE gathers host candidates where use_host_addresses() chose",
            ("aioice",),
            ice.install_host_addresses,
            ice.host_addresses_installed,
        ),
        Seam(
            "decoders",
            "receivers marked by skip_decoding() hand on encoded frames",
            ("aiortc",),
            receiver.install_decoders,
            receiver.decoders_installed,
        ),
    )
}
"""The process-wide seams by name; `install()` with no names installs all of them."""


def install(names: Iterable[str] | None = None) -> frozenset[str]:
    """Install the named seams (all by default), idempotently; returns every seam now installed.

    Raises SeamsUnsupported, before changing anything, if a library a requested seam reaches
    into is not the release it was written for; ValueError for an unknown name."""
    wanted = list(SEAMS) if names is None else list(names)
    unknown = [name for name in wanted if name not in SEAMS]
    if unknown:
        raise ValueError(f"unknown seam(s) {', '.join(unknown)}; known: {', '.join(SEAMS)}")
    check(*sorted({library for name in wanted for library in SEAMS[name].libraries}))
    for name in wanted:
        SEAMS[name].install()
    return installed()


def install_for_command(prog: str, *also: str) -> bool:
    """`install()` for a command (`run`, `serve`), checking the libraries `also` names too
    (`serve`: "amqtt", whose seam is per broker); False after one line on stderr if refused."""
    try:
        check(*also)
        names = install()
    except SeamsUnsupported as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return False
    log.debug("seams installed: %s", ", ".join(sorted(names)))
    return True


def installed() -> frozenset[str]:
    """The names of the process-wide seams installed in this process."""
    return frozenset(name for name, seam in SEAMS.items() if seam.installed())
