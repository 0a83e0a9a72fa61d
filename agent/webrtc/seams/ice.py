"""aioice's private state: where host candidates are gathered, and late candidates added.

Host addresses. `aioice.Connection.gather_candidates` calls `get_host_addresses(use_ipv4=...,
use_ipv6=...)`, looked up as a global of `aioice.ice` at call time (aioice 0.13). The seam
"host_addresses" of `agent.webrtc.seams.install()` replaces that global with one that asks the
chooser `choose_host_addresses_with` set (`agent.webrtc.host_addresses` sets it) and falls back
to aioice's own discovery when the chooser has no answer. Each connection's
`use_ipv4`/`use_ipv6` switches still filter the chosen addresses.

Late candidates. aiortc gathers inside `setLocalDescription`; `agent.webrtc.gathering` finds
server-reflexive and relayed candidates afterwards and adds them to the live aioice
`Connection` here (`add_local_candidate`), as if aioice had gathered them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import aioice.ice
from aioice import Candidate, Connection, TransportPolicy, mdns
from aioice.ice import CandidatePair, StunProtocol
from aiortc import RTCIceTransport

from agent.webrtc.seams.private import reaches, read

__all__ = [
    "add_local_candidate",
    "aioice_host_addresses",
    "choose_host_addresses_with",
    "components",
    "connection_of",
    "host_addresses_installed",
    "install_host_addresses",
    "protocols",
    "relay_only",
]

_CONNECTION = "aioice.ice.Connection"
reaches("aioice.ice", "module", "get_host_addresses")
reaches("aiortc.rtcicetransport.RTCIceTransport", "instance", "_connection")
reaches(_CONNECTION, "class", "_find_pair")
reaches(
    _CONNECTION,
    "instance",
    "_closing",
    "_protocols",
    "_components",
    "_transport_policy",
    "_local_candidates",
    "_check_list",
    "_check_list_done",
    "_remote_candidates",
)

HostAddressChooser = Callable[[], tuple[str, ...] | None]
"""The addresses to gather on now; None: aioice's own discovery."""

_aioice_discovery: Callable[..., list[str]] = aioice.ice.get_host_addresses
_chooser: HostAddressChooser = lambda: None  # noqa: E731


def choose_host_addresses_with(chooser: HostAddressChooser) -> None:
    """Who answers once the seam is installed (the process's and the task's choice)."""
    global _chooser
    _chooser = chooser


def _gathered_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    """What aioice gathers on; same signature as `aioice.ice.get_host_addresses`."""
    chosen = _chooser()
    if chosen is None:
        return _aioice_discovery(use_ipv4=use_ipv4, use_ipv6=use_ipv6)
    return [
        address
        for address in chosen
        if (use_ipv4 if ipaddress.ip_address(address).version == 4 else use_ipv6)
    ]


def aioice_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    """What aioice's own discovery finds (every interface but loopback)."""
    return _aioice_discovery(use_ipv4=use_ipv4, use_ipv6=use_ipv6)


def host_addresses_installed() -> bool:
    return bool(read(aioice.ice, "get_host_addresses") is _gathered_host_addresses)


def install_host_addresses() -> bool:
    """Route aioice's host discovery through the chooser; True if this call installed it."""
    global _aioice_discovery
    current = read(aioice.ice, "get_host_addresses")
    if current is _gathered_host_addresses:
        return False
    _aioice_discovery = current
    aioice.ice.get_host_addresses = _gathered_host_addresses
    return True


def connection_of(transport: RTCIceTransport) -> Connection:
    """The aioice connection under an aiortc ICE transport."""
    connection: Connection = read(transport, "_connection")
    return connection


def protocols(connection: Connection) -> list[StunProtocol]:
    """A copy of the connection's sockets (one protocol per local candidate with a socket)."""
    return list(read(connection, "_protocols"))


def components(connection: Connection) -> list[int]:
    return sorted(read(connection, "_components"))


def relay_only(connection: Connection) -> bool:
    """Whether the connection's policy allows relayed candidates only."""
    return bool(read(connection, "_transport_policy") == TransportPolicy.RELAY)


def add_local_candidate(
    connection: Connection, candidate: Candidate, protocol: StunProtocol | None
) -> bool:
    """Make a late candidate part of the connection, as if aioice had gathered it; False if
    the connection is closing (the caller then gives `protocol`'s allocation back).

    A relayed candidate has a socket of its own (`protocol`): it joins the connection's
    protocols, so it is closed with it, and is paired with the remote candidates known so far
    (later ones pair with it through aioice). A server-reflexive candidate shares its base's
    socket and pairs only through it (RFC 8445 section 6.1.2.4), so it needs no pair.
    """
    if read(connection, "_closing"):
        return False
    read(connection, "_local_candidates").append(candidate)
    if protocol is None:
        return True
    read(connection, "_protocols").append(protocol)
    if not read(connection, "_check_list_done"):
        check_list: list[CandidatePair] = read(connection, "_check_list")
        find_pair: Callable[[Any, Candidate], CandidatePair | None] = read(connection, "_find_pair")
        for remote in read(connection, "_remote_candidates"):
            # Peer-reflexive remotes pair only with the socket that saw them (RFC 8445
            # 7.3.1.4); relaying to an mDNS name would reveal it to the TURN server.
            if remote.type == "prflx" or mdns.is_mdns_hostname(remote.host):
                continue
            if candidate.can_pair_with(remote) and find_pair(protocol, remote) is None:
                check_list.append(CandidatePair(protocol, remote))
        connection.sort_check_list()
    return True
