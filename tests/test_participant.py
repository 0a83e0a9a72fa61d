"""The agent's participant against the embedded platform: real REST, real MQTT event channel,
real aiortc peer connections through the platform's media router on loopback.

Helpers here are shared with `test_media_e2e.py`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import pytest

from agent.api.auth import ClientCredentials
from agent.api.errors import ApiError
from agent.api.models import (
    ConferenceStreamType,
    CreateConferenceWebCommand,
    EndConferenceWebCommand,
)
from agent.participant import (
    Participant,
    Reception,
    RetryPolicy,
    StreamState,
    ViewPolicy,
    synthetic_tracks,
)
from server.embedded import EmbeddedServer
from server.media.router import Router
from tests.platform_support import CLIENTS

LIVENESS = 20.0  # seconds: generous, the machine is shared by many test runs
FAST_RETRY = RetryPolicy(attempts=4, initial=0.2, maximum=1.0, connect_timeout=15.0)
AV = ConferenceStreamType.MIC_AND_CAM


async def wait_until(condition: Callable[[], bool], what: str, within: float = LIVENESS) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.05)


def credentials(client_id: str) -> ClientCredentials:
    return ClientCredentials(client_id, CLIENTS[client_id][1])


def router_of(server: EmbeddedServer) -> Router:
    router = server.platform.router
    assert isinstance(router, Router)
    return router


def small_tracks(stream_type: ConferenceStreamType = AV) -> dict[str, Any]:
    """Little video (cheap to encode on a shared machine) that still carries the timecode."""
    return synthetic_tracks(stream_type, width=320, height=180, fps=15)


class Call:
    """Participants of one conference, closed (left, unregistered) at the end."""

    def __init__(self, server: EmbeddedServer, stack: AsyncExitStack) -> None:
        self.server = server
        self.stack = stack
        self.conference_id: str | None = None

    async def participant(self, client_id: str, **options: Any) -> Participant:
        options.setdefault("retry", FAST_RETRY)
        options.setdefault("name", client_id)
        participant = Participant(self.server.base_url, credentials(client_id), **options)
        await self.stack.enter_async_context(participant)
        if self.conference_id is None:
            summary = await participant.api.conferences.create(CreateConferenceWebCommand())
            assert summary.id
            self.conference_id = summary.id
        await participant.join(self.conference_id)
        return participant


@pytest.fixture
async def call(server: EmbeddedServer) -> AsyncIterator[Call]:
    async with AsyncExitStack() as stack:
        yield Call(server, stack)


# --- the viewer follows the publisher -----------------------------------------------------


async def test_viewer_follows_a_publisher_that_unpublishes_and_publishes_again(
    server: EmbeddedServer, call: Call
) -> None:
    alice = await call.participant("agent1")
    bob = await call.participant("agent2")
    tracks = small_tracks(ConferenceStreamType.CAM)
    first = await alice.publish(ConferenceStreamType.CAM, tracks)
    assert first.stream_id is not None
    first_id = first.stream_id

    await wait_until(lambda: first_id in bob.viewers, "bob views alice's stream")
    viewer = bob.viewers[first_id]
    await wait_until(lambda: viewer.frames("video") >= 10, "frames of the first stream")
    assert viewer.sinks["video"].reception is Reception.LIGHT

    await alice.unpublish(first)
    await wait_until(lambda: first_id not in bob.viewers, "bob stops viewing it")
    assert viewer.ended.is_set() and viewer.peer_connections == 0
    assert router_of(server).peer_connection_count() == 0

    second = await alice.publish(ConferenceStreamType.CAM, tracks)
    assert second.stream_id is not None and second.stream_id != first_id
    second_id = second.stream_id
    await wait_until(lambda: second_id in bob.viewers, "bob views the new stream")
    await wait_until(lambda: bob.viewers[second_id].frames("video") >= 10, "new frames")
    # Alice never views her own stream: her own events are not acted on.
    assert alice.viewers == {}
    steps = [r.step for r in bob.timeline.records]
    assert steps.count("view") == 2 and "stop-view" in steps
