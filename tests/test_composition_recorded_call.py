"""A real call recorded and composed: agents publish synthetic VP8/Opus over aiortc to the
embedded platform, the platform's recorder writes the tracks, the composer renders them, and
the composed files downloaded through their signed URLs show each publisher's timecode in its
tile while it was publishing, with the mixed audio aligned."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent.api.models.composition import CompositionState, CreateCompositionWebCommand
from media.composition_check import (
    LIVE_TIMECODE_BOUND,
    TileSpan,
    check_media,
    check_sync,
    check_tiles,
)
from server.embedded import EmbeddedServer
from tests.participant_support import AV, CAM, Call, small_tracks
from tests.platform_support import PlatformUser
from tests.recorder_support import recordings, start_recording, triple_path, wait_state

pytestmark = pytest.mark.slow


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
    await bob.publish(CAM, small_tracks(CAM))
    await asyncio.sleep(2.5)
    await alice.unpublish(first)
    await asyncio.sleep(1.5)
    await agent.call("POST", f"{triple_path(event)}/stop")

    (recording,) = recordings(server, "call-1")
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
