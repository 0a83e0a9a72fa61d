"""A real Chromium and the agent in one conference, through the local platform.

Nothing is mocked: Debian's Chromium (headless, fake camera and microphone) runs the
platform's own client page (`/client`) with its WebRTC stack and MQTT.js; the agent is the
project's `Participant` with aiortc; between them the local platform with its media router
and MQTT broker. The browser's video carries the agent's timecode (painted by the page), and
the agent's video carries it too, so the delay is measured both ways.

Skipped, with the reason, where Chromium or Playwright is missing (`scripts/ensure-chromium`
installs Chromium when run as root, as `scripts/test` does).
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Callable

import aiohttp
import numpy as np
import numpy.typing as npt
import pytest

from agent.api.auth import ClientCredentials
from agent.browser import (
    BrowserError,
    BrowserParticipant,
    BrowserSnapshot,
    chromium_missing,
    measurements_from_snapshot,
)
from agent.participant import Participant, ViewPolicy, synthetic_tracks
from media import timecode
from server.embedded import EmbeddedServer
from tests.platform_support import CLIENTS, login

pytestmark = [
    pytest.mark.slow,
    pytest.mark.serial,  # Chromium and the agent judged on fps and delay: a quiet CPU
    pytest.mark.timeout(90),
    pytest.mark.skipif(chromium_missing() is not None, reason=str(chromium_missing())),
]

MEDIA_SECONDS = 4.0
"""Media time per test once both sides see each other: enough for fps, freezes and delay."""
SETTLE = 25.0
"""Generous liveness bound for joins and first frames on a loaded 2-core machine."""


async def until(check: Callable[[], object], what: str, seconds: float = SETTLE) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} within {seconds:g} s")
        await asyncio.sleep(0.2)


@pytest.fixture
async def conference_id(server: EmbeddedServer) -> str:
    async with aiohttp.ClientSession(server.base_url) as http:
        creator = await login(http, "agent1")
        created = await creator.call("POST", "/rtc-api/conferences/create", json={"mode": "ROUTER"})
    return str(created["id"])


def agent_for(server: EmbeddedServer, codec: str) -> Participant:
    return Participant(
        server.base_url,
        ClientCredentials("agent1", CLIENTS["agent1"][1]),
        name="agent",
        view_policy=ViewPolicy.measuring(),
        video_codecs=(codec,),  # type: ignore[arg-type]
    )


def browser_for(server: EmbeddedServer, conference_id: str, codec: str) -> BrowserParticipant:
    return BrowserParticipant(
        server.base_url,
        conference_id=conference_id,
        client_id="agent2",
        client_secret=CLIENTS["agent2"][1],
        video_codec=codec,
        keep_alive_seconds=10,
    )


@pytest.fixture
async def page_only(server: EmbeddedServer) -> AsyncIterator[BrowserParticipant]:
    """A browser on the client page that has not joined anything."""
    async with BrowserParticipant(
        server.base_url, client_id="agent2", client_secret=CLIENTS["agent2"][1]
    ) as browser:
        yield browser


# --- the page and its timecode port ----------------------------------------------------------


async def test_client_page_is_served_with_its_vendored_mqtt(server: EmbeddedServer) -> None:
    async with aiohttp.ClientSession(server.base_url) as http:
        async with http.get("/client?conference=c1", allow_redirects=False) as response:
            assert response.status == 302
            assert response.headers["Location"] == "/client/?conference=c1"
        async with http.get("/client/") as response:
            page = await response.text()
            assert response.status == 200
        assert '<script src="vendor/mqtt.min.js">' in page
        assert '<script type="module" src="client.js">' in page
        for path, marker in [
            ("/client/vendor/mqtt.min.js", "var mqtt="),
            ("/client/client.js", "addPublishStreamIceCandidates"),
            ("/client/timecode.js", "export function read"),
        ]:
            async with http.get(path) as response:
                assert response.status == 200, path
                assert "javascript" in response.headers["Content-Type"], path
                assert marker in await response.text(), path
        async with http.get("/client/no-such-file.js") as response:
            assert response.status == 404


READ_IN_PAGE = """async ([rgba, width, height]) => {
    const tc = await import('/client/timecode.js');
    const bytes = Uint8ClampedArray.from(atob(rgba), (c) => c.charCodeAt(0));
    return tc.read(new ImageData(bytes, width), width, height);
}"""
WRITE_IN_PAGE = """async ([width, height, seq, tsMs]) => {
    const tc = await import('/client/timecode.js');
    const canvas = new OffscreenCanvas(width, height);
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#5a5a5a';
    ctx.fillRect(0, 0, width, height);
    tc.embed(ctx, width, height, seq, tsMs);
    const data = ctx.getImageData(0, 0, width, height).data;
    let text = '';
    for (let i = 0; i < data.length; i += 8192) {
        text += String.fromCharCode(...data.subarray(i, i + 8192));
    }
    return btoa(text);
}"""


def band_rgba(frame: npt.NDArray[np.uint8], rows: int) -> str:
    """The top `rows` of an RGB frame as base64 RGBA, the layout of a canvas's ImageData."""
    band = frame[:rows]
    alpha = np.full((*band.shape[:2], 1), 255, dtype=np.uint8)
    return base64.b64encode(np.concatenate([band, alpha], axis=2).tobytes()).decode()


async def test_timecode_port_reads_and_writes_like_python(page_only: BrowserParticipant) -> None:
    """The page's reader reads Python's code, Python's reader reads the page's, and a damaged
    code reads as nothing on both sides."""
    width, height = 640, 360
    rows = timecode.TimecodeGeometry(width, height).band_height
    frame = np.full((height, width, 3), 90, dtype=np.uint8)
    timecode.embed(frame, 123456789, 1_795_000_000_123)
    read = await page_only.page.evaluate(READ_IN_PAGE, [band_rgba(frame, rows), width, height])
    assert read == [123456789, 1_795_000_000_123]

    written = await page_only.page.evaluate(
        WRITE_IN_PAGE, [width, height, 4294967295, 281474976710655]
    )
    rgba = np.frombuffer(base64.b64decode(written), dtype=np.uint8).reshape(height, width, 4)
    assert timecode.read(np.ascontiguousarray(rgba[:, :, :3])) == (4294967295, 281474976710655)

    damaged = frame.copy()
    damaged[:24, 300:324] = 128  # one cell grey: unreadable, never a wrong value
    assert timecode.read(damaged) is None
    read = await page_only.page.evaluate(READ_IN_PAGE, [band_rgba(damaged, rows), width, height])
    assert read is None


# --- a browser and an agent in one conference ------------------------------------------------


@pytest.mark.parametrize("codec", ["VP8", "H264"])
async def test_browser_and_agent_see_each_other(
    server: EmbeddedServer, conference_id: str, codec: str
) -> None:
    async with agent_for(server, codec) as agent:
        await agent.join(conference_id)
        await agent.publish("MIC_AND_CAM", synthetic_tracks("MIC_AND_CAM"))
        async with browser_for(server, conference_id, codec) as browser:
            browser_endpoint = await browser.join()
            await until(
                lambda: any(v.frames("video") > 10 for v in agent.viewers.values()),
                "agent decoding the browser's video",
            )
            await browser.wait_for(
                lambda s: any(v.video and v.video.codes_read > 10 for v in s.viewed),
                SETTLE,
                "browser reading the agent's timecode",
            )
            await asyncio.sleep(MEDIA_SECONDS)
            seen_by_browser = await browser.snapshot()
            seen_by_agent = await agent.measurements()

    assert seen_by_browser.errors == []
    # The browser's own stream went out in the codec asked for, with trickled candidates.
    [published] = seen_by_browser.published
    assert published.codecs == {"audio": "audio/opus", "video": f"video/{codec}"}
    # Chromium's offer leaves before it has candidates: the connection rests on trickled ones
    # (at least one candidate and end-of-candidates).
    assert published.candidates_in_offer == 0
    assert published.candidates_sent >= 2

    # Both sides measured in one shape: each decodes the other's video and reads its timecode.
    agent_endpoint = seen_by_agent.endpoint_id
    browser_measured = measurements_from_snapshot("browser", seen_by_browser)
    [agent_view] = [v for v in seen_by_agent.viewers if v.publisher_endpoint_id == browser_endpoint]
    [browser_view] = [
        v for v in browser_measured.viewers if v.publisher_endpoint_id == agent_endpoint
    ]
    # The page counts presented frames, which a loaded machine thins before decoding does
    # (frames decoded are checked below), hence its lower bound.
    for view, min_fps in ((agent_view, 10), (browser_view, 5)):
        assert view.state == "live", view
        video = view.tracks["video"]
        assert video.fps > min_fps, video
        assert video.delay_ms is not None and (video.delay_ms["count"] or 0) > 20, video
        assert 0 < (video.delay_ms["p50"] or 0) < 2000, video.delay_ms
        assert view.tracks["audio"].packets_received > 50, view.tracks["audio"]

    # The agent decodes the browser's audio (Chromium's fake microphone beeps: not silent).
    audio = agent_view.tracks["audio"]
    assert audio.frames > 50, audio
    assert audio.level_dbfs is not None and (audio.level_dbfs["max"] or -200) > -60, audio

    # The browser decoded the agent's media in the negotiated codecs, with its candidates
    # trickled for the viewing connection too.
    [viewed] = seen_by_browser.viewing(agent_endpoint or "")
    assert viewed.candidates_in_offer == 0 and viewed.candidates_sent >= 2
    assert viewed.decoding["video"].codec == f"video/{codec}"
    assert (viewed.decoding["video"].frames_decoded or 0) > 40
    assert viewed.decoding["audio"].codec == "audio/opus"
    assert (viewed.decoding["audio"].samples_received or 0) > 48000
    print(
        f"\n{codec}: agent->browser delay {browser_view.tracks['video'].delay_ms} "
        f"fps {browser_view.tracks['video'].fps:.1f}; browser->agent delay "
        f"{agent_view.tracks['video'].delay_ms} fps {agent_view.tracks['video'].fps:.1f}"
    )


# --- a browser that reloads mid-call ---------------------------------------------------------


async def test_reloaded_browser_is_replaced_in_the_agents_view(
    server: EmbeddedServer, conference_id: str
) -> None:
    """The browser is a customer with a ticket here: the ticket's conference is joined."""
    async with aiohttp.ClientSession(server.base_url) as http:
        issuer = await login(http, "agent1")
        ticket = await issuer.call(
            "POST",
            "/security/ticket",
            json={
                "type": "MULTI_USE_TICKET",
                "ttl": 600,
                "properties": {"applicationId": "app", "conference_id": conference_id},
            },
        )
    async with agent_for(server, "VP8") as agent:
        await agent.join(conference_id)
        await agent.publish("MIC_AND_CAM", synthetic_tracks("MIC_AND_CAM", width=320, height=180))
        async with BrowserParticipant(
            server.base_url, ticket=ticket["id"], keep_alive_seconds=10
        ) as browser:
            first_endpoint = await browser.join()
            first = await browser.snapshot()
            [old_stream] = [p.stream_id for p in first.published]
            await until(
                lambda: old_stream in agent.viewers and agent.viewers[old_stream].frames("video"),
                "agent viewing the browser's first stream",
            )

            second_endpoint = await browser.reload()
            second: BrowserSnapshot = await browser.snapshot()
            assert first.conference_id == second.conference_id == conference_id
            [new_stream] = [p.stream_id for p in second.published]
            assert second_endpoint != first_endpoint and new_stream != old_stream
            await until(
                lambda: (
                    old_stream not in agent.viewers
                    and new_stream in agent.viewers
                    and agent.viewers[new_stream].frames("video") > 10
                ),
                "agent viewing the reloaded browser's new stream only",
            )
            # The platform let the old endpoint go (the page unregistered on pagehide).
            await until(
                lambda: server.platform.registrations.get(first_endpoint) is None,
                "the old browser endpoint unregistered",
            )
            # The agent holds its publisher and its viewer of the new stream, nothing else.
            assert agent.peer_connection_count() == 2
            assert set(agent.viewers) == {new_stream}
            # The reloaded page views the agent again.
            await browser.wait_for(
                lambda s: any(v.video and v.video.codes_read > 10 for v in s.viewed),
                SETTLE,
                "the reloaded browser viewing the agent",
            )
            # The router holds the four of the call as it is now, none of the old page's.
            router = server.platform.router
            assert router is not None
            await until(lambda: router.peer_connection_count() == 4, "the router down to four pcs")


# --- failures the page reports ---------------------------------------------------------------


async def test_refused_login_names_the_call_and_status_without_the_secret(
    server: EmbeddedServer, conference_id: str
) -> None:
    async with BrowserParticipant(
        server.base_url,
        conference_id=conference_id,
        client_id="agent2",
        client_secret="wrong-secret-value",
    ) as browser:
        with pytest.raises(BrowserError, match="the page failed") as failure:
            await browser.join()
        snapshot = await browser.snapshot()
    assert snapshot.state == "failed"
    [error] = snapshot.errors
    assert "POST /security/oauth/token failed with 401" in error
    assert "wrong-secret-value" not in str(failure.value) + error
    assert server.platform.registrations.count() == 0
