"""ICE servers against the embedded platform: none by default (never a public server), the
configured STUN/TURN URLs otherwise, with TURN REST API credentials (HMAC of the username,
limited by `ttl`) in both the v2 and the older answer."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from pathlib import Path

import aiohttp
import pytest

from server.config import ConfigError, ServerConfig
from server.embedded import EmbeddedServer
from server.ice import ICE_KEY, IceService
from tests.platform_support import CLIENTS, PlatformUser, login

SECRET = "turn-shared-secret-for-tests"
SERVERS = (
    "stun:127.0.0.1:3478",
    "turn:127.0.0.1:3478?transport=udp",
    "stun:[::1]:3478",
    "turns:turn.example.internal:5349?transport=tcp",
)


async def test_no_servers_are_handed_out_unless_configured(agent: PlatformUser) -> None:
    assert await agent.call("GET", "/rtc-api/iceServers/v2") == {"ttl": 86400}
    assert await agent.call("GET", "/rtc-api/iceServers") == {"iceServers": [], "ttl": 86400}


def _expected_password(username: str) -> str:
    digest = hmac.new(SECRET.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


async def test_configured_servers_come_with_time_limited_turn_credentials(
    tmp_path: Path,
) -> None:
    clients = [spec for spec, _ in CLIENTS.values()]
    async with (
        EmbeddedServer(
            clients, data_dir=tmp_path, ice_servers=SERVERS, turn_secret=SECRET, ice_ttl=600
        ) as server,
        aiohttp.ClientSession(server.base_url) as http,
    ):
        agent = await login(http, "agent1")
        v2 = await agent.call("GET", "/rtc-api/iceServers/v2")
        assert v2["stun"] == "stun:127.0.0.1:3478"
        assert v2["turn"] == "turn:127.0.0.1:3478?transport=udp"
        assert v2["ttl"] == 600
        expiry, _, user = v2["turnUsername"].partition(":")
        assert user == agent.user_id
        assert abs(int(expiry) - (time.time() + 600)) < 60
        assert v2["turnPassword"] == _expected_password(v2["turnUsername"])

        v1 = await agent.call("GET", "/rtc-api/iceServers")
        stun, turn = v1["iceServers"]
        assert stun == {"urls": ["stun:127.0.0.1:3478", "stun:[::1]:3478"]}
        assert turn["urls"] == [SERVERS[1], SERVERS[3]]
        assert turn["credential"] == _expected_password(turn["username"])
        assert turn["username"].endswith(f":{agent.user_id}")

        # Each user gets a credential of their own; the secret shows in no repr.
        other = await login(http, "agent2")
        theirs = await other.call("GET", "/rtc-api/iceServers/v2")
        assert theirs["turnUsername"].endswith(f":{other.user_id}")
        assert theirs["turnPassword"] != v2["turnPassword"]
        assert SECRET not in repr(server.app[ICE_KEY]) + repr(server.config)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"ice_servers": ("stun.l.google.com:19302",)}, "is not a stun:"),
        ({"ice_servers": ("http://example.com",)}, "is not a stun:"),
        ({"ice_servers": ("turn:h:3478?transport=sctp",)}, "is not a stun:"),
        ({"ice_servers": ("turn:127.0.0.1:3478",)}, "no TURN secret"),
        ({"ice_ttl": 5}, "ice_ttl"),
    ],
)
def test_bad_configuration_fails_at_startup(
    tmp_path: Path, settings: dict[str, object], message: str
) -> None:
    config = ServerConfig(clients=(), data_dir=tmp_path, **settings)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=message):
        IceService.from_config(config)


@pytest.mark.parametrize("path", ["/rtc-api/iceServers/v2", "/rtc-api/iceServers"])
async def test_calls_without_a_token_get_401(http: aiohttp.ClientSession, path: str) -> None:
    async with http.get(path) as response:
        assert response.status == 401
