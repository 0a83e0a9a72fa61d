"""The platform's ICE servers, reduced to what the trickle gathering can use.

aioice uses one STUN and one TURN server per connection, so the first usable of each is kept.
An unusable URL (unknown scheme, `stuns:`, a transport aioice lacks, TURN without credentials)
is skipped rather than rejected: servers often list alternatives, and a later one may work.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from aiortc.rtcicetransport import parse_stun_turn_uri

from agent.api.models import IceServer, IceServersResult, IceServersResultV2

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StunServer:
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class TurnServer:
    host: str
    port: int
    transport: Literal["udp", "tcp"]
    secure: bool
    """`turns:` — TURN over TLS (always TCP)."""
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class IceServers:
    """The STUN and TURN server the late-candidate gathering talks to; both may be absent."""

    stun: StunServer | None = None
    turn: TurnServer | None = None
    ttl: int | None = None
    """Seconds the TURN credentials stay valid, as the platform said."""


NO_ICE_SERVERS = IceServers()


def ice_servers_from_v2(result: IceServersResultV2) -> IceServers:
    """Read `GET /iceServers/v2` (`stun`, `turn`, `turnUsername`, `turnPassword`, `ttl`)."""
    return ice_servers_from_list(result.to_ice_servers(), result.ttl)


def ice_servers_from_v1(result: IceServersResult) -> IceServers:
    """Read the older `GET /iceServers` (`iceServers[{urls, username, credential}]`, `ttl`)."""
    return ice_servers_from_list(result.ice_servers or [], result.ttl)


def ice_servers_from_list(servers: Iterable[IceServer], ttl: int | None = None) -> IceServers:
    stun: StunServer | None = None
    turn: TurnServer | None = None
    for server in servers:
        for url in _split_urls(server.urls or []):
            try:
                parsed = parse_stun_turn_uri(url)
            except ValueError as exc:
                logger.info("ICE server URL %r skipped: %s", url, exc)
                continue
            scheme = parsed["scheme"]
            if scheme == "stun" and stun is None:
                stun = StunServer(host=parsed["host"], port=parsed["port"])
            elif scheme in ("turn", "turns") and turn is None:
                turn = _turn_server(url, parsed, server)
            elif scheme == "stuns":
                logger.info("ICE server URL %r skipped: aioice has no STUN over TLS", url)
    return IceServers(stun=stun, turn=turn, ttl=ttl)


def _turn_server(url: str, parsed: dict[str, object], server: IceServer) -> TurnServer | None:
    transport = parsed["transport"]
    if transport not in ("udp", "tcp"):
        logger.info("ICE server URL %r skipped: aioice has no TURN over %s", url, transport)
        return None
    if server.username is None or server.credential is None:
        logger.info("ICE server URL %r skipped: no TURN credentials", url)
        return None
    return TurnServer(
        host=str(parsed["host"]),
        port=int(str(parsed["port"])),
        transport=transport,
        secure=parsed["scheme"] == "turns",
        username=server.username,
        password=server.credential,
    )


def _split_urls(urls: Iterable[str]) -> list[str]:
    """A v2 field may hold several URLs in one string; split on commas and spaces."""
    return [part for url in urls for part in re.split(r"[,\s]+", url.strip()) if part]
