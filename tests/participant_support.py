"""Helpers for tests that drive the agent's `Participant` against the embedded platform.

The `call` fixture (a `Call` closed at the end of the test) is in `conftest.py`.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from agent.api.auth import ClientCredentials
from agent.api.models import ConferenceStreamType, CreateConferenceWebCommand
from agent.participant import Participant, RetryPolicy, synthetic_tracks
from server.embedded import EmbeddedServer
from server.media.router import Router
from tests.platform_support import CLIENTS

# Retries short enough that a test of failure does not wait for the production back-off.
FAST_RETRY = RetryPolicy(attempts=4, initial=0.2, maximum=1.0, connect_timeout=15.0)
AV = ConferenceStreamType.MIC_AND_CAM
CAM = ConferenceStreamType.CAM


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
        """Joins `client_id` to the call's conference, which the first participant creates."""
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
