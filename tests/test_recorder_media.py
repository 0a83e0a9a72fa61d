"""The recorder records real calls: an agent publishes synthetic H264 over a real aiortc peer
connection to the embedded platform; the file the recorder writes from the router's packets is
decoded back with PyAV. The VP8/Opus call with a late publisher and an unpublish is recorded,
checked and composed in test_composition_recorded_call (one call for both)."""

from __future__ import annotations

import asyncio

import pytest

from agent.participant import synthetic_tracks
from server.embedded import EmbeddedServer
from tests.participant_support import CAM, Call
from tests.platform_support import PlatformUser
from tests.recorder_support import (
    decode,
    recordings,
    start_recording,
    triple_path,
    wait_state,
)

pytestmark = pytest.mark.slow


async def test_an_h264_publisher_is_recorded_to_matroska_without_re_encoding(
    server: EmbeddedServer, call: Call, agent: PlatformUser
) -> None:
    alice = await call.participant("agent1", video_codecs=("H264",))
    await alice.publish(CAM, synthetic_tracks(CAM, width=320, height=180, fps=15))
    assert call.conference_id is not None
    event = await start_recording(agent, call.conference_id, "conv-h264", audio=False)
    await wait_state(agent, event, "ACTIVE")
    await asyncio.sleep(2.5)
    await agent.call("POST", f"{triple_path(event)}/stop")

    (recording,) = recordings(server, "conv-h264")
    (track,) = recording.tracks
    assert (track.codec, track.container) == ("H264", "matroska")
    decoded = decode(track.path)
    assert decoded.codec == "h264" and decoded.width == 320
    assert decoded.frames >= 15
