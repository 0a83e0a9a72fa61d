"""A recording cut short by a crash: `serve` is killed (SIGKILL) while an agent publishes and
the recorder writes; the next start finds the unfinished session, salvages the part files and
marks it ABORTED with `recovered`."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

import aiohttp
import pytest

from agent.api.models import CreateConferenceWebCommand
from agent.participant import Participant
from server.embedded import EmbeddedServer
from tests.participant_support import AV, FAST_RETRY, credentials, small_tracks
from tests.platform_support import CLIENTS, login
from tests.recorder_support import decode, recordings, start_recording, triple_path, wait_state
from tests.serve_support import serve_process

pytestmark = pytest.mark.slow


async def test_a_crash_mid_recording_is_salvaged_at_the_next_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with serve_process("--data-dir", str(data), "--client", CLIENTS["agent1"][0]) as (
        url,
        _,
        process,
    ):
        alice = Participant(url, credentials("agent1"), retry=FAST_RETRY, name="alice")
        await alice.__aenter__()
        summary = await alice.api.conferences.create(CreateConferenceWebCommand())
        assert summary.id
        await alice.join(summary.id)
        await alice.publish(AV, small_tracks(AV))
        async with aiohttp.ClientSession(url) as http:
            agent = await login(http, "agent1")
            event = await start_recording(agent, summary.id, "conv-crash")
            await wait_state(agent, event, "ACTIVE")
            await asyncio.sleep(4.0)  # past a checkpoint and a few closed clusters
            process.send_signal(signal.SIGKILL)
            await process.wait()
        with contextlib.suppress(Exception):  # the platform is gone: leaving fails
            async with asyncio.timeout(20):
                await alice.__aexit__(None, None, None)

    async with (
        EmbeddedServer([CLIENTS["agent1"][0]], data_dir=data) as server,
        aiohttp.ClientSession(server.base_url) as http,
    ):
        agent = await login(http, "agent1")
        message = await agent.call("GET", triple_path(event))
        assert message["state"] == "ABORTED" and message["recovered"]
        assert message["error"]["code"] == "INSTANCE_LOST"
        (recording,) = recordings(server, "conv-crash")
        assert {t.kind for t in recording.tracks} == {"audio", "video"}
        for track in recording.tracks:
            decoded = decode(track.path)
            assert decoded.seconds >= 1.5, (track.kind, decoded)  # most of the 4 s survived
        await wait_state(agent, event, "ABORTED")
        assert not list((data / "files" / "recordings").glob("*.part"))
