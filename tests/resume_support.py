"""Shared by the resume tests (issue 16): real faults, and the check that media flows again."""

from __future__ import annotations

import asyncio
import contextlib
import time

from agent.participant import Participant, ResumePolicy, StreamState

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
