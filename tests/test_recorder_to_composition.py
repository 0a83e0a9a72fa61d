"""Record a real call and compose it on `auvious-agent serve`, with calls written straight
from seeds 003/004 by a plain HTTP client: an agent publishes synthetic video and audio over
aiortc, the recorder records it from the router's packets, the composer renders VIDEO (MP4) and
AUDIO (MP3) from those files, and the signed URLs give the files with no token. PyAV reads them
back."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.api.models import CreateConferenceWebCommand
from agent.participant import Participant
from media.composition_check import probe
from tests.participant_support import AV, FAST_RETRY, credentials, small_tracks
from tests.platform_support import CLIENTS, PlatformUser, login
from tests.recorder_support import start_recording, triple_path, wait_state
from tests.serve_support import serve_process

pytestmark = pytest.mark.slow

COMPOSITION = "/composition/api"


async def _compose(agent: PlatformUser, kind: str) -> dict[str, Any]:
    request = {
        "conversationId": "conv-av",
        "type": kind.lower(),  # the vendor's scripts send lower case
        "layout": "GRID",
        "name": f"call-{kind}",
        "resolution": "320x240",
        "priority": "1",
    }
    created: dict[str, Any] = await agent.call("POST", f"{COMPOSITION}/request", json=request)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 120
    while True:
        message = await agent.call("GET", f"{COMPOSITION}/query/conversation/conv-av")
        views: list[dict[str, Any]] = message["compositions"]
        (view,) = [c for c in views if c["id"] == created["id"]]
        if view["state"] not in ("QUEUED", "PREPROCESSING", "PROCESSING"):
            assert view["state"] == "COMPLETED", view
            return view
        assert loop.time() < deadline, view
        await asyncio.sleep(0.5)


async def _download(agent: PlatformUser, view: dict[str, Any], target: Path) -> Path:
    headers = {**agent.headers, "Referer": "http://example.test/"}
    url_path = f"{COMPOSITION}/player/conv-av/{view['id']}/url/attachment"
    async with agent.http.get(url_path, headers=headers) as response:
        assert response.status == 200, await response.text()
        url = (await response.json())["url"]
    async with aiohttp.ClientSession() as anonymous, anonymous.get(url) as response:
        assert response.status == 200
        data = await response.read()
    await asyncio.to_thread(target.write_bytes, data)
    return target


async def test_a_recorded_call_composes_to_video_and_audio(tmp_path: Path) -> None:
    """Against `auvious-agent serve` (its own process), as a user would run it."""
    spec = CLIENTS["agent1"][0]
    async with (
        serve_process("--data-dir", str(tmp_path / "data"), "--client", spec) as (url, _, _),
        Participant(url, credentials("agent1"), retry=FAST_RETRY, name="alice") as alice,
        aiohttp.ClientSession(url) as http,
    ):
        summary = await alice.api.conferences.create(CreateConferenceWebCommand())
        assert summary.id
        await alice.join(summary.id)
        await alice.publish(AV, small_tracks(AV))
        await _record_and_compose(await login(http, "agent1"), summary.id, tmp_path)


async def _record_and_compose(agent: PlatformUser, conference_id: str, tmp_path: Path) -> None:
    event = await start_recording(agent, conference_id, "conv-av")
    await wait_state(agent, event, "ACTIVE")
    await asyncio.sleep(3.0)
    await agent.call("POST", f"{triple_path(event)}/stop")
    message = await agent.call("GET", triple_path(event))
    (stream,) = message["streams"]
    recorded = min(
        (datetime.fromisoformat(t["stopped"]) - datetime.fromisoformat(t["started"]))
        for t in stream["tracks"]
    ).total_seconds()
    assert recorded >= 2.0

    video = probe(await _download(agent, await _compose(agent, "VIDEO"), tmp_path / "v.mp4"))
    assert (video.video_codec, video.audio_codec) == ("h264", "aac")
    assert (video.width, video.height) == (320, 240)
    assert abs(video.duration - recorded) <= 1.0, (video, recorded)
    audio = probe(await _download(agent, await _compose(agent, "AUDIO"), tmp_path / "a.mp3"))
    assert audio.audio_codec in ("mp3", "mp3float") and audio.video_codec is None
    assert abs(audio.duration - recorded) <= 1.0, (audio, recorded)
