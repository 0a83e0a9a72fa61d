"""A time-compressed soak (issue 16): short keepalive (2 s) and token (6 s: renewed every 3 s)
lifetimes, and a fault every few seconds, in turn: the platform restarted on the same port and
data directory, the event channel cut, the registration lost, a peer connection killed. After
each the call must be back with media both ways; at the end nothing has leaked (peer
connections, threads, file descriptors, asyncio tasks stay at their level after the first
round). The platform runs in this process here (restarted in place) to keep the test short;
`test_resume_faults` kills a real `serve` process."""

from __future__ import annotations

import gc
import weakref
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from agent.participant import Participant
from agent.participant.drift import DriftWatcher
from tests.resume_support import SoakCall

ROUNDS = 2
BOUND = 45.0
SETTINGS: dict[str, Any] = {"access_token_ttl": 6, "long_poll_seconds": 1.0}


@pytest.mark.slow
@pytest.mark.serial  # exact resume counts: on a starved CPU a 1 s keepalive lapses on its own
async def test_a_call_survives_a_fault_every_few_seconds_without_leaking(tmp_path: Path) -> None:
    soak = SoakCall(tmp_path, SETTINGS)
    try:
        async with AsyncExitStack() as stack:
            people = await soak.start(stack)
            renewals: list[object] = []
            people[0].auth.add_listener(renewals.append)
            seen: list[weakref.ref[object]] = []
            drift = DriftWatcher(lambda: sum(p.peer_connection_count() for p in people))
            for round_ in range(ROUNDS):
                for fault in soak.faults:
                    await fault()
                    await soak.back(fault.__name__, BOUND)
                    seen.extend(weakref.ref(pc) for pc in peer_connections(people))
                now = drift.take()
                assert now.peer_connections == 4, now  # 2 published + 2 viewed, no more
                if round_:  # the first round sets the level (imports, pools, caches)
                    samples = drift.samples
                    assert drift.growth("threads") <= 2, samples
                    assert drift.growth("fds") <= 16, samples
                    assert drift.growth("tasks") <= 10, samples
            gc.collect()
            current = {id(pc) for pc in peer_connections(people)}
            kept = [pc for ref in seen if (pc := ref()) is not None and id(pc) not in current]
            assert not kept, f"{len(kept)} replaced peer connection(s) still referenced"
            del kept
            print(f"memory growth over round 2: {drift.growth('rss_bytes') / 2**20:.1f} MiB")
            assert all(p.resumes == ROUNDS for p in people[:1]), "the restarts"
            assert people[1].resumes == 2 * ROUNDS, "the restarts and the lost registrations"
            assert people[0].publishers[0].replacements >= 1 or people[0].resumes
            assert len(renewals) >= 3, "tokens were renewed throughout (every 3 s)"
            await stack.aclose()
    finally:
        await soak.close()


def peer_connections(people: list[Participant]) -> list[object]:
    """The peer connections the participants hold now (published and viewed)."""
    streams = [
        *(s for p in people for s in p.publishers),
        *(v for p in people for v in p.viewers.values()),
    ]
    return [s.link.pc for s in streams if s.link is not None]
