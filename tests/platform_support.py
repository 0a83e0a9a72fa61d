"""Helpers to drive the local platform with plain aiohttp (fixtures are in `conftest.py`).

Import them as `from tests.platform_support import login, PlatformUser, ...`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from server.events import endpoint_topic

CLIENTS = {
    "agent1": ("agent1:agent1-secret:AGENT,SUPERVISOR:org1", "agent1-secret"),
    "agent2": ("agent2:agent2-secret:AGENT:org1", "agent2-secret"),
    "service1": ("service1:service1-secret:SERVICE:org1", "service1-secret"),
    "outsider": ("outsider:outsider-secret:AGENT:org2", "outsider-secret"),
}
LONG_POLL_SECONDS = 1.0

# A well-formed HS256 JWT signed with a key the platform does not have.
FORGED_TOKEN = ".".join(
    ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", "eyJzdWIiOiJ4In0", "c2lnbmF0dXJlLW9mLW5vYm9keQ")
)


@dataclass
class PlatformUser:
    """A logged-in caller: its token response and a session to call the platform with."""

    http: aiohttp.ClientSession
    token: dict[str, Any]

    def __repr__(self) -> str:
        return f"PlatformUser(sub={self.user_id!r}, org={self.token.get('organization')!r})"

    @property
    def user_id(self) -> str:
        return str(self.token["sub"])

    @property
    def access_token(self) -> str:
        return str(self.token["access_token"])

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    def topic(self, endpoint_id: str) -> str:
        return endpoint_topic(self.user_id, endpoint_id)

    async def call(
        self, method: str, path: str, *, json: Any = None, data: Any = None, expect: int = 200
    ) -> Any:
        async with self.http.request(
            method, path, json=json, data=data, headers=self.headers
        ) as response:
            text = await response.text()
            assert response.status == expect, f"{method} {path}: {response.status} {text}"
            if response.status == 204 or not text:
                return None
            return await response.json(content_type=None)

    async def register(self, keep_alive_seconds: int = 60, **fields: Any) -> str:
        body = {"keepAliveSeconds": keep_alive_seconds, **fields}
        return str(await self.call("POST", "/rtc-api/users/endpoints", json=body))


def basic(client_id: str, secret: str) -> dict[str, str]:
    """HTTP Basic client authentication headers."""
    return {"Authorization": aiohttp.encode_basic_auth(client_id, secret)}


async def get_token(http: aiohttp.ClientSession, client_id: str, secret: str) -> dict[str, Any]:
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    async with http.post("/security/oauth/token", data=data) as response:
        body: dict[str, Any] = await response.json()
        assert response.status == 200, body
        return body


async def login(http: aiohttp.ClientSession, client_id: str) -> PlatformUser:
    return PlatformUser(http, await get_token(http, client_id, CLIENTS[client_id][1]))


async def make_ticket(user: PlatformUser, conference_id: str, length: int = 12) -> str:
    """A multi-use ticket for `conference_id`, made by `user` (staff)."""
    made = await user.call(
        "POST",
        "/security/ticket",
        json={
            "type": "MULTI_USE_TICKET",
            "ttl": 600,
            "length": length,
            "properties": {"applicationId": "app", "conference_id": conference_id},
        },
    )
    return str(made["id"])


async def customer_login(http: aiohttp.ClientSession, ticket_id: str) -> PlatformUser:
    data = {"grant_type": "password", "username": ticket_id, "password": ""}
    headers = basic("customer", "")
    async with http.post("/security/oauth/token", data=data, headers=headers) as response:
        body: dict[str, Any] = await response.json()
        assert response.status == 200, body
        return PlatformUser(http, body)
