"""The recorder records real calls: agents publish synthetic VP8/Opus (and H264) over real
aiortc peer connections to the embedded platform; the files the recorder writes from the
router's packets are decoded back with PyAV."""

from __future__ import annotations

import asyncio

import pytest

from agent.participant import synthetic_tracks
from server.embedded import EmbeddedServer
from tests.participant_support import AV, CAM, Call, small_tracks
from tests.platform_support import PlatformUser
from tests.recorder_support import (
    decode,
    published_seconds,
    recordings,
    start_recording,
    triple_path,
    wait_state,
)

pytestmark = pytest.mark.slow


async def test_a_late_publisher_and_an_unpublish_are_each_recorded_for_their_time(
    server: EmbeddedServer, call: Call, agent: PlatformUser
) -> None:
    alice = await call.participant("agent1")
    first = await alice.publish(AV, small_tracks(AV))
    assert call.conference_id is not None
    event = await start_recording(agent, call.conference_id)
    assert event["state"] == "INITIALISED"
    await wait_state(agent, event, "ACTIVE")
    await asyncio.sleep(2.0)

    bob = await call.participant("agent2")
    late = await bob.publish(CAM, small_tracks(CAM))
    await asyncio.sleep(2.0)
    await alice.unpublish(first)  # during the recording: its stream stops, bob's goes on
    await asyncio.sleep(1.5)
    message = await agent.call("GET", triple_path(event))
    states = {s["userId"]: s["state"] for s in message["streams"]}
    assert sorted(states.values()) == ["RECORDING", "STOPPED"], message

    await agent.call("POST", f"{triple_path(event)}/stop")
    # Stop answers once the files are complete: no waiting here.
    message = await agent.call("GET", triple_path(event))
    assert message["state"] == "STOPPED"
    assert [s["state"] for s in message["streams"]] == ["STOPPED", "STOPPED"]
    kinds = [[t["type"] for t in s["tracks"]] for s in message["streams"]]
    assert [sorted(k) for k in kinds] == [["AUDIO", "VIDEO"], ["VIDEO"]]
    for stream in message["streams"]:
        for track in stream["tracks"]:
            assert int(track["storage"]["objectStorage"]["size"]) > 0

    (recording,) = recordings(server, "conv-1")
    assert recording.finished and len(recording.tracks) == 3
    assert late.stream_id in {t.stream_id for t in recording.tracks}
    for track in recording.tracks:
        decoded = decode(track.path)
        expected = published_seconds(track)
        assert abs(decoded.seconds - expected) <= 1.0, (track.kind, decoded, expected)
        if track.kind == "video":
            assert decoded.codec == "vp8" and decoded.width == 320
            assert decoded.frames >= 15 * (expected - 1)  # 15 fps published, nothing lost
        else:
            assert decoded.codec == "opus"


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
