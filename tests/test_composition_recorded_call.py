"""A real call recorded and composed: agents publish synthetic VP8/Opus over aiortc to the
embedded platform (one publishes late, one unpublishes during the recording), the platform's
recorder writes the tracks, each recorded for its own time and decoded back with PyAV, the
composer renders them, and the composed files downloaded through their signed URLs show each
publisher's timecode in its tile while it was publishing, with the mixed audio aligned. One
call serves the recorder's checks and the composer's (it was two calls of the same shape)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from agent.api.models.composition import CompositionState, CreateCompositionWebCommand
from media.composition_check import (
    LIVE_TIMECODE_BOUND,
    TileSpan,
    check_media,
    check_sync,
    check_tiles,
)
from server.composition.recordings import Recording
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

pytestmark = [pytest.mark.slow, pytest.mark.serial]  # track lengths within 1 s of the call


def _check_recorded(message: dict[str, Any], recording: Recording, late: str | None) -> None:
    """What the recorder made of the call: each stream recorded for its own time (the late
    publisher from when it published, the unpublished one until it stopped), in files that
    decode to the published codecs with nothing lost. Stop answers once the files are
    complete: no waiting before this."""
    assert message["state"] == "STOPPED"
    assert [s["state"] for s in message["streams"]] == ["STOPPED", "STOPPED"]
    kinds = [[t["type"] for t in s["tracks"]] for s in message["streams"]]
    assert [sorted(k) for k in kinds] == [["AUDIO", "VIDEO"], ["VIDEO"]]
    for stream in message["streams"]:
        for track in stream["tracks"]:
            assert int(track["storage"]["objectStorage"]["size"]) > 0
    assert recording.finished and len(recording.tracks) == 3
    assert late in {t.stream_id for t in recording.tracks}
    for track in recording.tracks:
        decoded = decode(track.path)
        expected = published_seconds(track)
        assert abs(decoded.seconds - expected) <= 1.0, (track.kind, decoded, expected)
        if track.kind == "video":
            assert decoded.codec == "vp8" and decoded.width == 320
            assert decoded.frames >= 15 * (expected - 1)  # 15 fps published, nothing lost
        else:
            assert decoded.codec == "opus"


async def test_a_recorded_call_composes_into_a_grid_that_follows_the_publishers(
    server: EmbeddedServer, call: Call, agent: PlatformUser, tmp_path: Path
) -> None:
    alice = await call.participant("agent1")
    first = await alice.publish(AV, small_tracks(AV))
    assert call.conference_id is not None
    event = await start_recording(agent, call.conference_id, "call-1")
    await wait_state(agent, event, "ACTIVE")
    await asyncio.sleep(2.0)
    bob = await call.participant("agent2")
    late = await bob.publish(CAM, small_tracks(CAM))
    await asyncio.sleep(2.5)
    await alice.unpublish(first)  # during the recording: its stream stops, bob's goes on
    await asyncio.sleep(1.5)
    message = await agent.call("GET", triple_path(event))
    states = {s["userId"]: s["state"] for s in message["streams"]}
    assert sorted(states.values()) == ["RECORDING", "STOPPED"], message
    await agent.call("POST", f"{triple_path(event)}/stop")

    (recording,) = recordings(server, "call-1")
    _check_recorded(await agent.call("GET", triple_path(event)), recording, late.stream_id)
    origin = recording.started
    assert recording.stopped is not None
    length = recording.stopped - origin
    spans = sorted(
        (
            TileSpan(
                max(0.0, t.shown_from - origin),
                min(length, t.shown_to - origin),
                t.user_id,
            )
            for t in recording.tracks
            if t.kind == "video"
        ),
        key=lambda s: s.start,
    )
    assert len(spans) == 2

    api = alice.api
    made = {
        kind: await api.compositions.request(
            CreateCompositionWebCommand.model_validate(
                {
                    "conversationId": "call-1",
                    "type": kind,
                    "layout": "GRID",
                    "name": f"call-{kind}",
                    "resolution": "640x480",
                }
            )
        )
        for kind in ("VIDEO", "AUDIO")
    }
    for kind, identifier in made.items():
        view = await api.compositions.wait_done("call-1", identifier.id, time_limit=120, poll=0.2)
        assert view.state == CompositionState.COMPLETED, view
        assert view.duration_seconds == pytest.approx(length, abs=0.01)
        url = (await api.compositions.url("call-1", identifier.id)).url
        assert url is not None
        path = tmp_path / f"call-1.{kind}"
        path.write_bytes((await api.compositions.download(url)).body)
        size = (640, 480) if kind == "VIDEO" else None
        assert check_media(path, kind=kind, size=size, duration=length) == []
        if kind == "VIDEO":
            # A live call under the suite's own load (LIVE_TIMECODE_BOUND); the default 0.25 s
            # steadiness bound is pinned on rendered files in test_composition_render. Out of
            # order, frozen or missing tiles still fail here.
            assert check_tiles(path, spans, origin * 1000, bound=LIVE_TIMECODE_BOUND) == []
            assert check_sync(path, spans, origin * 1000) == []
