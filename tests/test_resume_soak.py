"""A time-compressed soak (issue 16): short keepalive (2 s) and token (6 s: renewed every 3 s)
lifetimes, and a fault every few seconds, in turn: the platform restarted on the same port and
data directory, the event channel cut, the registration lost, a peer connection killed. After
each the call must be back with media both ways; at the end nothing has leaked (peer
connections, threads, file descriptors, asyncio tasks stay at their level after the first
round). The platform runs in this process here (restarted in place) to keep the test short;
`test_resume_faults` kills a real `serve` process."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from agent.api.models import CreateConferenceWebCommand, UnregisterUserEndpointWebCommand
from agent.participant import Participant
from agent.participant.drift import DriftWatcher
from server.embedded import EmbeddedServer
from tests.participant_support import CAM, FAST_RETRY, credentials, small_tracks
from tests.platform_support import CLIENTS
from tests.resume_support import FAST_RESUME, CuttableProxy, media_flowing

ROUNDS = 2
BOUND = 45.0
SETTINGS: dict[str, Any] = {"access_token_ttl": 6, "long_poll_seconds": 1.0}


@pytest.mark.slow
async def test_a_call_survives_a_fault_every_few_seconds_without_leaking(tmp_path: Path) -> None:
    specs = [spec for spec, _ in CLIENTS.values()]
    platform = EmbeddedServer(specs, data_dir=tmp_path, **SETTINGS)
    await platform.start()
    port = platform.port
    ws = urlsplit(platform.ws_url)
    proxy = CuttableProxy("127.0.0.1", ws.port or 80)
    await proxy.start()
    try:
        async with AsyncExitStack() as stack:
            people = []
            for name, via_proxy in (("agent1", True), ("agent2", False)):
                person = Participant(
                    platform.base_url,
                    credentials(name),
                    name=name,
                    keep_alive_seconds=2,
                    retry=FAST_RETRY,
                    resume=FAST_RESUME,
                    event_channel_url=(
                        f"ws://127.0.0.1:{proxy.port}{ws.path}" if via_proxy else None
                    ),
                )
                people.append(await stack.enter_async_context(person))
            renewals: list[object] = []
            people[0].auth.add_listener(renewals.append)
            conference = await people[0].api.conferences.create(CreateConferenceWebCommand())
            for person in people:
                await person.join(conference.id or "")
                await person.publish(CAM, small_tracks(CAM))

            async def restart() -> None:
                nonlocal platform
                await platform.stop()
                platform = EmbeddedServer(specs, data_dir=tmp_path, port=port, **SETTINGS)
                await platform.start()

            async def cut_channel() -> None:
                proxy.cut()
                await asyncio.sleep(2)
                proxy.restore()

            async def lose_registration() -> None:
                endpoint = people[1].endpoint_id or ""
                await people[1].api.registrations.unregister(
                    UnregisterUserEndpointWebCommand(user_endpoint_id=endpoint)
                )

            async def kill_peer_connection() -> None:
                link = people[0].publishers[0].link
                assert link is not None
                await link.pc.close()

            faults: list[Callable[[], Awaitable[None]]] = [
                restart,
                cut_channel,
                lose_registration,
                kill_peer_connection,
            ]
            drift = DriftWatcher(lambda: sum(p.peer_connection_count() for p in people))
            for round_ in range(ROUNDS):
                for fault in faults:
                    await fault()
                    for person in people:
                        try:
                            await media_flowing(person, BOUND)
                        except TimeoutError:
                            state = {
                                p.name: (
                                    p.publishers,
                                    p.viewers,
                                    p.streams,
                                    p.lost,
                                    [(r.step, r.ok, r.error) for r in p.timeline.records[-14:]],
                                )
                                for p in people
                            }
                            raise AssertionError(
                                f"{person.name} not back after {fault.__name__}: {state}"
                            ) from None
                now = drift.take()
                assert now.peer_connections == 4, now  # 2 published + 2 viewed, no more
                if round_:  # the first round sets the level (imports, pools, caches)
                    samples = drift.samples
                    assert drift.growth("threads") <= 2, samples
                    assert drift.growth("fds") <= 16, samples
                    assert drift.growth("tasks") <= 10, samples
            print(f"memory growth over round 2: {drift.growth('rss_bytes') / 2**20:.1f} MiB")
            assert all(p.resumes == ROUNDS for p in people[:1]), "the restarts"
            assert people[1].resumes == 2 * ROUNDS, "the restarts and the lost registrations"
            assert people[0].publishers[0].replacements >= 1 or people[0].resumes
            assert len(renewals) >= 3, "tokens were renewed throughout (every 3 s)"
            await stack.aclose()
    finally:
        await proxy.close()
        await platform.stop()
