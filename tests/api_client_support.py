"""Shared by the ``test_api_client_*`` files that run against the embedded platform: the
server with clients in two organizations, a factory of closed-at-exit API clients, helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from agent.api.auth import ClientCredentials
from agent.api.client import AuviousClient
from agent.api.models.conferences import CreateConferenceWebCommand, JoinConferenceWebCommand
from agent.api.models.registrations import RegisterUserEndpointWebCommand
from server.embedded import EmbeddedServer
from tests.records_support import jpeg_bytes

AGENT1 = ("agent1", "agent1-secret-value")
SERVICE1 = ("service1", "service1-secret-value")
AGENT2 = ("agent2", "agent2-secret-value")

ClientFactory = Callable[..., Awaitable[AuviousClient]]


@pytest.fixture
async def server() -> AsyncIterator[EmbeddedServer]:
    async with EmbeddedServer(
        clients=[
            f"{AGENT1[0]}:{AGENT1[1]}:AGENT,SUPERVISOR:org1",
            f"{SERVICE1[0]}:{SERVICE1[1]}:SERVICE:org1",
            f"{AGENT2[0]}:{AGENT2[1]}:AGENT:org2",
        ],
        long_poll_seconds=0.5,
    ) as srv:
        yield srv


@pytest.fixture
async def connect(server: EmbeddedServer) -> AsyncIterator[ClientFactory]:
    """Make clients (agent1 of org1 by default) that are closed at the end of the test."""
    made: list[AuviousClient] = []

    async def make(credentials: tuple[str, str] = AGENT1, **kwargs: Any) -> AuviousClient:
        auth = kwargs.pop("auth", None) or ClientCredentials(*credentials)
        client = AuviousClient(server.base_url, auth, backoff=0.01, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.close()


async def register(client: AuviousClient, keep_alive: int = 60) -> str:
    return await client.registrations.register(
        RegisterUserEndpointWebCommand(keep_alive_seconds=keep_alive)
    )


async def joined_conference(*members: tuple[AuviousClient, str]) -> str:
    """A new conference of the first member's organization, joined by every member."""
    created = await members[0][0].conferences.create(CreateConferenceWebCommand())
    assert created.id
    for client, endpoint in members:
        await client.conferences.join(
            JoinConferenceWebCommand(conference_id=created.id, user_endpoint_id=endpoint)
        )
    return created.id


def jpeg(width: int = 16, height: int = 16, level: int = 128) -> bytes:
    """A real, small grey JPEG image (servers may check what they are sent)."""
    return jpeg_bytes(width, height, (level, level, level))


APPLICATION = "app-1"
REFERER = "http://127.0.0.1/agent"


def signed_parts(url: str) -> tuple[str, int, str]:
    """``.../signed/{id}/{expiration}?signature=...`` taken apart, for the get_signed calls."""
    parts = urlsplit(url)
    *_, record_id, expiration = parts.path.split("/")
    return record_id, int(expiration), parse_qs(parts.query)["signature"][0]


async def two_members(connect: ClientFactory) -> tuple[AuviousClient, str, AuviousClient, str]:
    """Two registered agents of org1 (e.g. a requester and a target)."""
    first = await connect()
    second = await connect()
    return first, await register(first), second, await register(second)
