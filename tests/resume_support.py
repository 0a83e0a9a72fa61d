"""Shared by the resume tests (issue 16): real faults, and the check that media flows again."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agent.api.models import CreateConferenceWebCommand, UnregisterUserEndpointWebCommand
from agent.participant import Participant, ResumePolicy, RetryPolicy, StreamState
from server.embedded import EmbeddedServer

FAST_RESUME = ResumePolicy(initial=0.2, maximum=1.0, media_timeout=15.0)
"""Backoff short enough for a test; the production one starts at 0.5 s and caps at 15 s."""


def streams_live(participant: Participant, frames: int) -> bool:
    """Every publisher live, and some view of another's video past `frames` frames."""
    publishing = bool(participant.publishers) and all(
        p.state is StreamState.LIVE for p in participant.publishers
    )
    return publishing and any(
        not v.ended.is_set() and v.frames("video") >= frames for v in participant.viewers.values()
    )


async def media_flowing(participant: Participant, within: float, frames: int = 5) -> float:
    """Wait until `participant` publishes and receives video again; seconds it took."""
    started = time.monotonic()
    baseline = {id(v): v.frames("video") for v in participant.viewers.values()}
    async with asyncio.timeout(within):
        while True:
            fresh = any(
                not v.ended.is_set() and v.frames("video") >= baseline.get(id(v), 0) + frames
                for v in participant.viewers.values()
            )
            if fresh and streams_live(participant, frames):
                return time.monotonic() - started
            await asyncio.sleep(0.1)


class CuttableProxy:
    """A TCP relay on loopback that a test can cut: every connection through it is closed and
    new ones are refused until `restore()` (the event channel's network cut, for real)."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._cut = False
        self.cuts = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        self._cut = True
        self.cuts += 1
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self._cut = False

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._cut:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


async def start_call(people: list[Participant], within: float) -> str:
    """The first creates a conference; everyone joins, publishes a small camera, and
    receives the others' video within `within` seconds. The conference's id."""
    from agent.api.models import ConferenceStreamType, CreateConferenceWebCommand
    from tests.participant_support import small_tracks

    cam = ConferenceStreamType.CAM
    conference = await people[0].api.conferences.create(CreateConferenceWebCommand())
    for person in people:
        await person.join(conference.id or "")
    for person in people:
        await person.publish(cam, small_tracks(cam))
    for person in people:
        await media_flowing(person, within)
    return conference.id or ""


class SoakCall:
    """Two participants (`agent1` through a `CuttableProxy` for its event channel, `agent2`
    direct) in a call on a platform in this process, and the faults a soak applies to it:
    the platform restarted on its port and data directory (down for `outage` seconds), the
    event channel cut for `channel_cut` seconds, the registration lost, a peer connection
    killed. Shared by `tests/test_resume_soak.py` and `benchmarks/bench_soak.py`."""

    def __init__(
        self,
        data_dir: Path,
        settings: dict[str, Any],
        *,
        keep_alive: int = 2,
        outage: float = 0.0,
        channel_cut: float = 2.0,
    ) -> None:
        from tests.platform_support import CLIENTS

        self.specs = [spec for spec, _ in CLIENTS.values()]
        self.data_dir = data_dir
        self.settings = settings
        self.keep_alive = keep_alive
        self.outage = outage
        self.channel_cut = channel_cut
        self.platform = EmbeddedServer(self.specs, data_dir=data_dir, **settings)
        self.people: list[Participant] = []
        self.proxy: CuttableProxy | None = None

    async def start(self, stack: AsyncExitStack) -> list[Participant]:
        """The platform, the proxy and the call, publishing both ways; `stack` closes the
        participants (leave, unregister) before `close()`."""
        from tests.participant_support import CAM, FAST_RETRY, credentials, small_tracks

        await self.platform.start()
        ws = urlsplit(self.platform.ws_url)
        self.proxy = CuttableProxy("127.0.0.1", ws.port or 80)
        await self.proxy.start()
        for name, via_proxy in (("agent1", True), ("agent2", False)):
            person = Participant(
                self.platform.base_url,
                credentials(name),
                name=name,
                keep_alive_seconds=self.keep_alive,
                retry=FAST_RETRY,
                resume=FAST_RESUME,
                event_channel_url=(
                    f"ws://127.0.0.1:{self.proxy.port}{ws.path}" if via_proxy else None
                ),
            )
            self.people.append(await stack.enter_async_context(person))
        conference = await self.people[0].api.conferences.create(CreateConferenceWebCommand())
        for person in self.people:
            await person.join(conference.id or "")
            await person.publish(CAM, small_tracks(CAM))
        return self.people

    async def close(self) -> None:
        if self.proxy is not None:
            await self.proxy.close()
        await self.platform.stop()

    @property
    def faults(self) -> list[Callable[[], Awaitable[None]]]:
        return [self.restart, self.cut_channel, self.lose_registration, self.kill_peer_connection]

    async def restart(self) -> None:
        port = self.platform.port
        await self.platform.stop()
        await asyncio.sleep(self.outage)  # unreachable meanwhile
        self.platform = EmbeddedServer(
            self.specs, data_dir=self.data_dir, port=port, **self.settings
        )
        await self.platform.start()

    async def cut_channel(self) -> None:
        assert self.proxy is not None
        self.proxy.cut()
        await asyncio.sleep(self.channel_cut)
        self.proxy.restore()

    async def lose_registration(self) -> None:
        person = self.people[1]
        await person.api.registrations.unregister(
            UnregisterUserEndpointWebCommand(user_endpoint_id=person.endpoint_id or "")
        )

    async def kill_peer_connection(self) -> None:
        link = self.people[0].publishers[0].link
        assert link is not None
        await link.pc.close()

    async def back(self, fault: str, within: float) -> float:
        """Until both publish and receive again; the slower one's seconds. Raises naming
        what each was doing when one is not back `within` seconds."""
        took = 0.0
        for person in self.people:
            try:
                took = max(took, await media_flowing(person, within))
            except TimeoutError:
                state = {
                    p.name: (
                        p.publishers,
                        p.viewers,
                        p.streams,
                        p.lost,
                        [(r.step, r.ok, r.error) for r in p.timeline.records[-14:]],
                    )
                    for p in self.people
                }
                raise AssertionError(f"{person.name} not back after {fault}: {state}") from None
        return took


BENCH_RETRY = RetryPolicy(attempts=4, initial=0.2, maximum=1.0)
"""A request's retries in the fault benchmarks: short, the resume does the rest."""


def dev_participant(
    url: str,
    secret: str,
    name: str,
    keep_alive: int,
    *,
    retry: RetryPolicy = BENCH_RETRY,
    event_channel_url: str | None = None,
) -> Participant:
    """A participant of `serve`'s development client that resumes quickly (`FAST_RESUME`)."""
    from agent.api.auth import ClientCredentials

    return Participant(
        url,
        ClientCredentials("dev", secret),
        name=name,
        keep_alive_seconds=keep_alive,
        retry=retry,
        resume=FAST_RESUME,
        event_channel_url=event_channel_url,
    )
