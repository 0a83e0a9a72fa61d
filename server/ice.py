"""ICE servers (`/rtc-api/iceServers/v2` and the older `/rtc-api/iceServers`).

The platform hands out the STUN/TURN URLs it is configured with (`ServerConfig.ice_servers`,
none by default: a closed network must never wait on a public server) and, for TURN,
time-limited credentials in the TURN REST API convention that coturn's `use-auth-secret`
checks: username `<expiry epoch seconds>:<user id>`, password
`base64(HMAC-SHA1(shared secret, username))`. Nothing is stored: the TURN server verifies the
credential from the secret alone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from agent.api.models.ice import IceServer, IceServersResult, IceServersResultV2
from server.auth.caller import CALLER_KEY
from server.config import ConfigError, ServerConfig
from server.http import json_response
from server.openapi import operation
from server.platform import PLATFORM_KEY

_URL = re.compile(
    r"^(?P<scheme>stuns?|turns?):(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?"
    r"(?:\?transport=(?:udp|tcp))?$"
)


@dataclass(frozen=True, slots=True)
class TurnCredential:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class IceService:
    stun: tuple[str, ...]
    turn: tuple[str, ...]
    secret: bytes | None = field(repr=False)
    ttl: int
    clock: Callable[[], float] = time.time

    @classmethod
    def from_config(cls, config: ServerConfig) -> IceService:
        """Check the configured URLs once, at startup, so a typo fails there, not in a call."""
        stun: list[str] = []
        turn: list[str] = []
        for url in config.ice_servers:
            match = _URL.match(url.strip())
            if match is None:
                raise ConfigError(
                    f"ICE server {url!r} is not a stun:, stuns:, turn: or turns: URL "
                    "(host[:port][?transport=udp|tcp])"
                )
            (turn if match["scheme"].startswith("turn") else stun).append(url.strip())
        if turn and not config.turn_secret:
            raise ConfigError("TURN servers are configured but no TURN secret to sign credentials")
        if config.ice_ttl < 60:
            raise ConfigError("ice_ttl must be at least 60 seconds")
        secret = config.turn_secret.encode() if config.turn_secret else None
        return cls(tuple(stun), tuple(turn), secret, config.ice_ttl)

    def credential(self, user_id: str) -> TurnCredential | None:
        if self.secret is None or not self.turn:
            return None
        username = f"{int(self.clock()) + self.ttl}:{user_id}"
        digest = hmac.new(self.secret, username.encode(), hashlib.sha1).digest()
        return TurnCredential(username, base64.b64encode(digest).decode())

    def v2(self, user_id: str) -> IceServersResultV2:
        """The flat form carries one STUN and one TURN URL: the first configured of each."""
        credential = self.credential(user_id)
        return IceServersResultV2(
            stun=self.stun[0] if self.stun else None,
            turn=self.turn[0] if self.turn else None,
            turn_username=credential.username if credential else None,
            turn_password=credential.password if credential else None,
            ttl=self.ttl,
        )

    def v1(self, user_id: str) -> IceServersResult:
        servers: list[IceServer] = []
        if self.stun:
            servers.append(IceServer(urls=list(self.stun)))
        credential = self.credential(user_id)
        if credential is not None:
            servers.append(
                IceServer(
                    urls=list(self.turn),
                    username=credential.username,
                    credential=credential.password,
                )
            )
        return IceServersResult(ice_servers=servers, ttl=self.ttl)


ICE_KEY = web.AppKey("auvious_ice", IceService)


@operation("STUN/TURN servers and time-limited TURN credentials", response=IceServersResultV2)
async def ice_servers_v2(request: web.Request) -> web.Response:
    return json_response(request.app[ICE_KEY].v2(request[CALLER_KEY].user_id))


@operation("STUN/TURN servers as a list of RTCIceServer (older clients)", response=IceServersResult)
async def ice_servers_v1(request: web.Request) -> web.Response:
    return json_response(request.app[ICE_KEY].v1(request[CALLER_KEY].user_id))


def setup(app: web.Application) -> None:
    app[ICE_KEY] = IceService.from_config(app[PLATFORM_KEY].config)
    app.router.add_get("/rtc-api/iceServers/v2", ice_servers_v2)
    app.router.add_get("/rtc-api/iceServers", ice_servers_v1)
