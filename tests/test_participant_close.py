"""A cancelled `Participant.close()` still leaves and unregisters, against the embedded
platform (real REST, real MQTT event channel).

The seams: the platform's own leave/unregister service is held (the request is in flight, the
platform has it and has not answered) until the test lets it go; the caller of close() is
cancelled meanwhile, as Ctrl-C or the end of a run would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from agent.api.auth import ClientCredentials
from agent.api.models import CreateConferenceWebCommand
from agent.participant import Participant
from server.embedded import EmbeddedServer
from tests.platform_support import CLIENTS
from tests.waiting import LIVENESS, wait_until


class Held:
    """One service method of the live platform, held when called until `release()`."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, owner: object, method: str) -> None:
        self.called = asyncio.Event()
        self._released = asyncio.Event()
        real: Callable[..., Awaitable[Any]] = getattr(owner, method)

        async def held(*args: Any, **kwargs: Any) -> Any:
            self.called.set()
            await self._released.wait()
            return await real(*args, **kwargs)

        monkeypatch.setattr(owner, method, held)

    def release(self) -> None:
        self._released.set()


@pytest.fixture
async def alice(server: EmbeddedServer) -> AsyncIterator[Participant]:
    client_id = "agent1"
    participant = Participant(
        server.base_url, ClientCredentials(client_id, CLIENTS[client_id][1]), name="alice"
    )
    await participant.start()
    try:
        yield participant
    finally:
        await participant.close()


def registered(server: EmbeddedServer, participant: Participant) -> Callable[[], bool]:
    endpoint_id = participant.endpoint_id
    assert endpoint_id is not None
    return lambda: server.platform.registrations.get(endpoint_id) is not None


async def test_a_close_cancelled_during_leave_still_leaves_and_unregisters(
    server: EmbeddedServer, alice: Participant, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = await alice.api.conferences.create(CreateConferenceWebCommand())
    assert summary.id
    await alice.join(summary.id)
    still_registered = registered(server, alice)
    leave = Held(monkeypatch, server.platform.conferences, "leave")

    closing = asyncio.ensure_future(alice.close())
    await asyncio.wait_for(leave.called.wait(), LIVENESS)  # the leave request is in flight
    closing.cancel()
    leave.release()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(closing, LIVENESS)

    assert not still_registered()
    assert [r.ok for r in alice.timeline.find("leave")] == [True]
    assert [r.ok for r in alice.timeline.find("unregister")] == [True]
    assert alice.closed


async def test_a_close_cancelled_during_unregister_finishes_it_and_a_second_close_waits(
    server: EmbeddedServer, alice: Participant, monkeypatch: pytest.MonkeyPatch
) -> None:
    still_registered = registered(server, alice)
    unregister = Held(monkeypatch, server.platform.registrations, "unregister")

    closing = asyncio.ensure_future(alice.close())
    await asyncio.wait_for(unregister.called.wait(), LIVENESS)
    closing.cancel()
    again = asyncio.ensure_future(alice.close())  # shares the work under way
    await asyncio.sleep(0.2)
    assert not again.done() and not alice.closed
    unregister.release()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(closing, LIVENESS)
    await asyncio.wait_for(again, LIVENESS)

    assert not still_registered()
    assert len(alice.timeline.find("unregister")) == 1  # one unregister, not one per call


async def test_a_cancelled_close_gives_up_waiting_after_a_bound_and_the_work_goes_on(
    server: EmbeddedServer, alice: Participant
) -> None:
    """Cleanup that never ends must not hang Ctrl-C: the caller waits one HTTP timeout (made
    short here), then gets its CancelledError while the work is still under way. The stuck
    step is the event channel's close, held in the client: a broker that never lets go
    cannot be made with the real one."""
    still_registered = registered(server, alice)
    channel = alice.channel
    assert channel is not None
    closing_channel = asyncio.Event()
    let_go = asyncio.Event()
    real_close = channel.close

    async def stuck_close() -> None:
        closing_channel.set()
        await let_go.wait()
        await real_close()

    channel.close = stuck_close  # type: ignore[method-assign]
    alice.api.http.timeout = 0.5

    closing = asyncio.ensure_future(alice.close())
    await asyncio.wait_for(closing_channel.wait(), LIVENESS)
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(closing, LIVENESS)
    assert not alice.closed and still_registered()  # the caller stopped waiting, not the work

    alice.api.http.timeout = 15.0
    let_go.set()
    await wait_until(lambda: alice.closed, "the close work ends")
    assert not still_registered()
