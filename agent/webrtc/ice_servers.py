"""The platform's ICE servers, reduced to what the trickle gathering can use.

aioice uses one STUN and one TURN server per connection, so the first usable of each is kept.
An unusable URL (unknown scheme, `stuns:`, a transport aioice lacks, TURN without credentials)
is skipped rather than rejected: servers often list alternatives, and a later one may work.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from aiortc.rtcicetransport import parse_stun_turn_uri

logger = logging.getLogger(__name__)


class IceServersError(ValueError):
    """An ICE servers response that does not have the documented shape."""


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


def ice_servers_from_v2(body: object) -> IceServers:
    """Read a `GET /iceServers/v2` response: `{stun, turn, turnUsername, turnPassword, ttl}`."""
    data = _mapping(body, "iceServers/v2 response")
    username = _optional_str(data, "turnUsername")
    password = _optional_str(data, "turnPassword")
    urls = [
        *_split_urls(_optional_str(data, "stun"), "stun"),
        *_split_urls(_optional_str(data, "turn"), "turn"),
    ]
    stun, turn = _first_usable(urls, username, password)
    return IceServers(stun=stun, turn=turn, ttl=_optional_int(data, "ttl"))


def ice_servers_from_v1(body: object) -> IceServers:
    """Read a `GET /iceServers` response: `{iceServers: [{urls, username, credential}], ttl}`."""
    data = _mapping(body, "iceServers response")
    servers = data.get("iceServers") or []
    if not isinstance(servers, list):
        raise IceServersError("iceServers response: 'iceServers' must be a list")
    stun: StunServer | None = None
    turn: TurnServer | None = None
    for index, entry in enumerate(servers):
        server = _mapping(entry, f"iceServers[{index}]")
        raw_urls = server.get("urls") or []
        if isinstance(raw_urls, str):
            raw_urls = [raw_urls]
        if not isinstance(raw_urls, list) or not all(isinstance(u, str) for u in raw_urls):
            raise IceServersError(f"iceServers[{index}].urls must be a list of strings")
        found_stun, found_turn = _first_usable(
            raw_urls,
            _optional_str(server, "username"),
            _optional_str(server, "credential"),
        )
        stun = stun or found_stun
        turn = turn or found_turn
    return IceServers(stun=stun, turn=turn, ttl=_optional_int(data, "ttl"))


def _first_usable(
    urls: Iterable[str], username: str | None, password: str | None
) -> tuple[StunServer | None, TurnServer | None]:
    stun: StunServer | None = None
    turn: TurnServer | None = None
    for url in urls:
        try:
            parsed = parse_stun_turn_uri(url)
        except ValueError as exc:
            logger.info("ICE server URL %r skipped: %s", url, exc)
            continue
        scheme = parsed["scheme"]
        if scheme == "stun" and stun is None:
            stun = StunServer(host=parsed["host"], port=parsed["port"])
        elif scheme in ("turn", "turns") and turn is None:
            transport = parsed["transport"]
            if transport not in ("udp", "tcp") or (scheme == "turns" and transport != "tcp"):
                logger.info("ICE server URL %r skipped: transport %r", url, transport)
            elif username is None or password is None:
                logger.info("ICE server URL %r skipped: no TURN credentials", url)
            else:
                turn = TurnServer(
                    host=parsed["host"],
                    port=parsed["port"],
                    transport=transport,
                    secure=scheme == "turns",
                    username=username,
                    password=password,
                )
        elif scheme == "stuns":
            logger.info("ICE server URL %r skipped: aioice has no STUN over TLS", url)
    return stun, turn


def _split_urls(value: str | None, default_scheme: str) -> list[str]:
    """v2 gives one string per kind; accept a comma/space separated list and a bare host."""
    if not value:
        return []
    urls = []
    for url in re.split(r"[,\s]+", value.strip()):
        if url and not re.match(r"^(stun|stuns|turn|turns):", url):
            url = f"{default_scheme}:{url}"
        if url:
            urls.append(url)
    return urls


def _mapping(value: object, what: str) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise IceServersError(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def _optional_str(data: Mapping[str, object], key: str) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, str):
        return value
    raise IceServersError(f"'{key}' must be a string, got {type(value).__name__}")


def _optional_int(data: Mapping[str, object], key: str) -> int | None:
    value = data.get(key)
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise IceServersError(f"'{key}' must be an integer, got {type(value).__name__}")
