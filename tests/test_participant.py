"""The agent's participant against the embedded platform: real REST, real MQTT event channel,
real aiortc peer connections through the platform's media router on loopback.

Helpers (`Call`, `small_tracks`, ...) are in `tests/participant_support.py`, the `call` fixture
in `conftest.py`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest

from agent.api.errors import ApiError
from agent.api.models import (
    ConferenceStreamType,
    CreateConferenceWebCommand,
    EndConferenceWebCommand,
)
from agent.participant import (
    Participant,
    Reception,
    RetryPolicy,
    StreamState,
    Viewer,
    ViewPolicy,
)
from agent.webrtc import seams
from media import passthrough
from media.audio import SyntheticAudioTrack
from server.embedded import EmbeddedServer
from tests.participant_support import (
    AV,
    CAM,
    FAST_RETRY,
    Call,
    credentials,
    router_of,
    small_tracks,
)
from tests.waiting import LIVENESS, wait_until

# --- the viewer follows the publisher -----------------------------------------------------


async def test_light_reception_counts_audio_and_video_straight_from_rtp(call: Call) -> None:
    """The default reception builds no decoder and no passthrough "decoder": nothing crosses
    aiortc's decoder thread, yet every figure of a light viewer is there."""
    assert "decoders" in seams.install(["decoders"])
    decoders = passthrough.decoder_constructions()
    passthroughs = passthrough.passthrough_constructions()
    alice = await call.participant("agent1")
    await alice.publish(AV, small_tracks())
    bob = await call.participant("agent2")
    await wait_until(lambda: len(bob.viewers) == 1, "bob views alice")
    (viewer,) = bob.viewers.values()
    await wait_until(
        lambda: viewer.frames("video") >= 15 and viewer.frames("audio") >= 25, "frames"
    )
    (viewed,) = (await bob.measurements()).viewers
    for kind in ("audio", "video"):
        track = viewed.tracks[kind]
        assert track.reception == "light"
        assert track.fps > 0 and track.packets_received >= track.frames > 0
        assert track.time_to_first_frame_s is not None and track.time_to_first_frame_s > 0
    assert passthrough.decoder_constructions() == decoders
    assert passthrough.passthrough_constructions() == passthroughs


async def test_viewer_follows_a_publisher_that_unpublishes_and_publishes_again(
    server: EmbeddedServer, call: Call
) -> None:
    alice = await call.participant("agent1")
    bob = await call.participant("agent2")
    tracks = small_tracks(ConferenceStreamType.CAM)
    first = await alice.publish(ConferenceStreamType.CAM, tracks)
    assert first.stream_id is not None
    first_id = first.stream_id

    await wait_until(lambda: first_id in bob.viewers, "bob views alice's stream")
    viewer = bob.viewers[first_id]
    await wait_until(lambda: viewer.frames("video") >= 10, "frames of the first stream")
    assert viewer.sinks["video"].reception is Reception.LIGHT

    await alice.unpublish(first)
    await asyncio.wait_for(viewer.ended.wait(), LIVENESS)
    assert first_id not in bob.viewers and viewer.peer_connections == 0
    assert router_of(server).peer_connection_count() == 0

    second = await alice.publish(ConferenceStreamType.CAM, tracks)
    assert second.stream_id is not None and second.stream_id != first_id
    second_id = second.stream_id
    await wait_until(lambda: second_id in bob.viewers, "bob views the new stream")
    await wait_until(lambda: bob.viewers[second_id].frames("video") >= 10, "new frames")
    # Alice never views her own stream: her own events are not acted on.
    assert alice.viewers == {}
    steps = [r.step for r in bob.timeline.records]
    assert steps.count("view") == 2 and "stop-view" in steps


async def test_a_stream_can_be_viewed_on_demand(server: EmbeddedServer, call: Call) -> None:
    alice = await call.participant("agent1")
    bob = await call.participant("agent2", view_policy=ViewPolicy(auto_view=False))
    publisher = await alice.publish(CAM, small_tracks(CAM))
    assert publisher.stream_id is not None
    await asyncio.sleep(0.5)  # the published event has had time to arrive
    assert bob.viewers == {}

    viewer = await bob.view(publisher.stream_id, CAM)
    assert viewer.state is StreamState.LIVE
    await wait_until(lambda: viewer.frames("video") >= 10, "frames")
    assert router_of(server).peer_connection_count() == 2
    await bob.stop_viewing(publisher.stream_id)
    assert viewer.state.value == "stopped" and bob.viewers == {}
    assert router_of(server).peer_connection_count() == 1


# --- nothing is left behind ---------------------------------------------------------------


@pytest.mark.parametrize("how", ["leave", "end", "expiry"])
async def test_no_peer_connection_is_left_after(
    how: str, server: EmbeddedServer, call: Call, caplog: pytest.LogCaptureFixture
) -> None:
    keep_alive = 3 if how == "expiry" else 30  # keepalives every second, expiry at 3.5 s
    alice = await call.participant("agent1", keep_alive_seconds=keep_alive)
    bob = await call.participant("agent2", keep_alive_seconds=keep_alive)
    await alice.publish(AV, small_tracks())
    await bob.publish(ConferenceStreamType.MIC, small_tracks(ConferenceStreamType.MIC))
    await wait_until(
        lambda: all(
            len(p.viewers) == 1 and next(iter(p.viewers.values())).frames("audio") > 10
            for p in (alice, bob)
        ),
        "each views the other's stream",
    )
    router = router_of(server)
    assert router.peer_connection_count() == 4
    assert alice.peer_connection_count() == bob.peer_connection_count() == 2
    conference_id = alice.conference_id
    assert conference_id is not None

    if how == "leave":
        await alice.leave()
        await bob.leave()
    elif how == "end":
        assert alice.endpoint_id is not None
        await alice.api.conferences.end(
            EndConferenceWebCommand(conference_id=conference_id, user_endpoint_id=alice.endpoint_id)
        )
    else:
        alice.stop_keepalive()
        bob.stop_keepalive()

    await wait_until(lambda: router.peer_connection_count() == 0, "the router holds none")
    await wait_until(
        lambda: alice.peer_connection_count() == bob.peer_connection_count() == 0,
        "the agents hold none",
    )
    await wait_until(
        lambda: alice.conference_id is None and bob.conference_id is None,
        "both know they are out of the conference",
    )
    if how != "leave":
        assert [r.step for r in alice.timeline.records].count("removed") == 1
    # A normal end logs no warning: e.g. each router peer connection is closed once (a second
    # close is refused and logged as "media router cleanup failed").
    warnings = [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith(("server", "agent"))
    ]
    assert warnings == []


# --- replacement of lost peer connections ---------------------------------------------------


async def test_a_viewer_whose_peer_connection_fails_views_again_and_media_resumes(
    server: EmbeddedServer, call: Call
) -> None:
    alice = await call.participant("agent1")
    bob = await call.participant("agent2")
    publisher = await alice.publish(
        ConferenceStreamType.CAM, small_tracks(ConferenceStreamType.CAM)
    )
    stream_id = publisher.stream_id
    assert stream_id is not None
    await wait_until(lambda: stream_id in bob.viewers, "bob views")
    viewer = bob.viewers[stream_id]
    await wait_until(lambda: viewer.frames("video") >= 10, "frames before the failure")
    old_viewer_id = viewer.viewer_id
    assert old_viewer_id is not None

    router = router_of(server)
    await router._views[old_viewer_id].pc.close()  # the platform's side of bob's connection

    await wait_until(lambda: viewer.replacements == 1, "the viewer was replaced")
    assert viewer.viewer_id not in (None, old_viewer_id)
    frames = viewer.frames("video")
    await wait_until(lambda: viewer.frames("video") >= frames + 10, "media resumes")
    assert viewer.state is StreamState.LIVE
    assert old_viewer_id not in router._views, "the old viewer was stopped on the platform"
    assert router.peer_connection_count() == 2
    (lost,) = bob.timeline.find("lost-view")
    (replaced,) = bob.timeline.find("replace-view")
    assert replaced.ok and replaced.seconds is not None
    gap = replaced.started_at + replaced.seconds - lost.started_at
    print(f"viewer replaced {gap * 1000:.0f} ms after the loss")
    assert gap < LIVENESS / 2
    figures = await bob.measurements()
    (viewed,) = figures.viewers
    assert viewed.replacements == 1 and viewed.state == "live"
    assert viewed.tracks["video"].frames == viewer.frames("video")
    # What the scenario sees: one viewer whose frames stopped for a bounded time (a freeze,
    # when longer than WebRTC's freeze threshold) and went on; a 53 ms replacement may not
    # even count as a freeze, so only the bound is asserted.
    freezes = viewer.sinks["video"].timeline.freezes
    print(f"longest freeze {max((f.duration for f in freezes), default=0) * 1000:.0f} ms")
    assert all(f.duration < LIVENESS / 2 for f in freezes)
    assert viewed.tracks["video"].total_freeze_s < LIVENESS / 2


async def test_a_publisher_whose_peer_connection_fails_publishes_again_and_is_viewed(
    server: EmbeddedServer, call: Call
) -> None:
    alice = await call.participant("agent1")
    bob = await call.participant("agent2")
    publisher = await alice.publish(
        ConferenceStreamType.CAM, small_tracks(ConferenceStreamType.CAM)
    )
    first_id = publisher.stream_id
    assert first_id is not None
    await wait_until(lambda: first_id in bob.viewers, "bob views")
    first_viewer = bob.viewers[first_id]
    await wait_until(lambda: first_viewer.frames("video") >= 10, "first frames")
    before = (await publisher.measurements()).tracks["video"].packets_sent
    assert before > 0

    await router_of(server)._publications[first_id].pc.close()

    await wait_until(lambda: publisher.replacements == 1, "the publisher was replaced")
    (lost,) = alice.timeline.find("lost-publish")
    (replaced,) = alice.timeline.find("replace-publish")
    assert replaced.ok and replaced.seconds is not None
    gap = replaced.started_at + replaced.seconds - lost.started_at
    print(f"publisher replaced {gap * 1000:.0f} ms after the loss")
    second_id = publisher.stream_id
    assert second_id is not None and second_id != first_id
    assert publisher.stream_ids == [first_id, second_id]
    await wait_until(lambda: second_id in bob.viewers, "bob follows to the new stream")
    second_viewer = bob.viewers[second_id]
    await wait_until(lambda: second_viewer.frames("video") >= 10, "media resumes")
    # The publisher's totals carry the first connection's packets on: they never go back.
    assert publisher.link is not None
    new_link = await publisher.link.sample()
    assert new_link is not None
    (new_only,) = [o.packets_sent for o in new_link.outbound if o.kind == "video"]
    after = (await publisher.measurements()).tracks["video"].packets_sent
    assert after >= new_only + before
    await wait_until(lambda: first_id not in bob.viewers, "the old stream is no longer viewed")
    # The viewer's gap: from the old stream's last frame to the new stream's first.
    last_old = first_viewer.sinks["video"].timeline.last_at
    first_new = second_viewer.sinks["video"].timeline.first_at
    assert last_old is not None and first_new is not None
    print(f"bob saw no video for {(first_new - last_old) * 1000:.0f} ms")
    assert 0 < first_new - last_old < LIVENESS / 2
    assert router_of(server).stream_ids() == [second_id]


async def test_retries_are_bounded_and_every_failed_attempt_is_cleaned_up(
    server: EmbeddedServer, call: Call
) -> None:
    """A connect timeout nothing can meet makes every attempt fail for real."""
    impatient = RetryPolicy(attempts=3, initial=0.05, maximum=0.1, connect_timeout=0.001)
    alice = await call.participant("agent1")
    bob = await call.participant("agent2", retry=impatient)
    publisher = await alice.publish(CAM, small_tracks(CAM))
    assert publisher.stream_id is not None
    await wait_until(lambda: publisher.stream_id in bob.viewers, "bob tries to view")
    viewer = bob.viewers[publisher.stream_id]
    await asyncio.wait_for(viewer.ended.wait(), LIVENESS)
    assert viewer.state is StreamState.FAILED
    assert viewer.last_error is not None and "not connected" in viewer.last_error
    attempts = bob.timeline.find("view")
    assert len(attempts) == 3 and not any(r.ok for r in attempts)
    assert bob.peer_connection_count() == 0
    router = router_of(server)
    await wait_until(lambda: router.peer_connection_count() == 1, "only alice's publication")

    with pytest.raises(ConnectionError, match="not connected"):
        await bob.publish(CAM, small_tracks(CAM))
    assert len(bob.timeline.find("publish")) == 3 and bob.publishers == []
    assert router.peer_connection_count() == 1
    assert router.stream_ids() == [publisher.stream_id]


# --- cleanup always runs ------------------------------------------------------------------------


async def test_cleanup_runs_on_error_and_on_cancellation(server: EmbeddedServer) -> None:
    registrations = server.platform.registrations
    router = router_of(server)

    with pytest.raises(ApiError) as caught:
        async with Participant(server.base_url, credentials("agent1")) as lost:
            assert registrations.count() == 1
            await lost.join("no-such-conference")
    assert caught.value.status == 404 and caught.value.operation == "joinConference"
    assert registrations.count() == 0, "the endpoint was unregistered"
    assert lost.timeline.find("unregister")[0].ok

    joined = asyncio.Event()

    async def in_a_call() -> None:
        async with Participant(server.base_url, credentials("agent1"), retry=FAST_RETRY) as me:
            summary = await me.api.conferences.create(CreateConferenceWebCommand())
            assert summary.id
            await me.join(summary.id)
            await me.publish(ConferenceStreamType.MIC, {"audio": SyntheticAudioTrack()})
            joined.set()
            await asyncio.sleep(LIVENESS * 10)

    task = asyncio.create_task(in_a_call())
    await asyncio.wait_for(joined.wait(), LIVENESS)
    assert router.peer_connection_count() == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert router.peer_connection_count() == 0
    assert registrations.count() == 0


async def test_records_time_every_step(server: EmbeddedServer, call: Call) -> None:
    alice = await call.participant("agent1")
    await alice.publish(ConferenceStreamType.MIC, {"audio": SyntheticAudioTrack()})
    await alice.leave()
    steps = [r.step for r in alice.timeline.records]
    assert steps[:5] == ["token", "register", "ice-servers", "event-channel", "join"]
    assert steps[5:] == ["simple-view", "publish", "leave"]
    # The ICE servers need only the token: fetched while the endpoint registers, off the path.
    (register,) = alice.timeline.find("register")
    (ice,) = alice.timeline.find("ice-servers")
    assert register.seconds is not None and ice.started_at < register.started_at + register.seconds
    assert all(r.ok and r.seconds is not None and r.seconds >= 0 for r in alice.timeline.records)
    (publish,) = alice.timeline.find("publish")
    timings = publish.details
    assert 0 <= timings["request_ms"] <= timings["answer_ms"] <= timings["connected_ms"]
    assert timings["stream_type"] == "MIC" and timings["stream_id"]
    assert alice.timeline.records[0].to_dict()["step"] == "token"


async def test_ice_servers_fall_back_to_the_older_endpoint_then_to_none(
    server: EmbeddedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An older platform without `/iceServers/v2` (simulated: the local platform has both, so
    the client's call is made to fail as such a platform answers), then one with neither."""

    def missing(operation: str) -> Callable[[], Any]:
        async def fail() -> None:
            raise ApiError(
                operation=operation,
                method="GET",
                path="/rtc-api/iceServers",
                status=404,
                message="Not Found",
            )

        return fail

    older = Participant(server.base_url, credentials("agent1"))
    monkeypatch.setattr(older.api.ice, "servers_v2", missing("getIceServersV2"))
    async with older:
        (record,) = older.timeline.find("ice-servers")
        assert record.ok and record.details["source"] == "v1"

    oldest = Participant(server.base_url, credentials("agent1"))
    monkeypatch.setattr(oldest.api.ice, "servers_v2", missing("getIceServersV2"))
    monkeypatch.setattr(oldest.api.ice, "servers", missing("getIceServers"))
    async with oldest:
        (record,) = oldest.timeline.find("ice-servers")
        assert not record.ok and record.error is not None and "404" in record.error
        assert record.details == {"stun": False, "turn": False}


# --- rules checked before anything is sent ----------------------------------------------------


async def test_publish_checks_the_tracks_against_the_stream_type(
    server: EmbeddedServer, call: Call
) -> None:
    alice = await call.participant("agent1")
    with pytest.raises(ValueError, match="MIC_AND_CAM sends audio and video"):
        await alice.publish(AV, {"audio": SyntheticAudioTrack()})
    assert alice.publishers == []
    assert router_of(server).peer_connection_count() == 0


def test_view_policy_refuses_what_cannot_work(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="video=decode"):
        ViewPolicy(record_dir=tmp_path)
    with pytest.raises(ValueError, match="sampled applies to video"):
        ViewPolicy(audio=Reception.SAMPLED)
    with pytest.raises(ValueError, match="PCM callback needs audio=decode"):
        ViewPolicy(on_pcm=lambda pcm, at: None)
    policy = ViewPolicy(stream_types=frozenset({ConferenceStreamType.SCREEN}))
    assert policy.wants("SCREEN") and not policy.wants("CAM") and not policy.wants("nonsense")
    assert not ViewPolicy(auto_view=False).wants("CAM")
    assert ViewPolicy.measuring().video is Reception.DECODE


def test_retry_policy_backs_off_to_a_bound() -> None:
    retry = RetryPolicy(initial=0.5, maximum=4.0)
    assert [retry.delay(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


class _Watcher:
    """Records what a `ViewWatcher` hears, as (event, stream id) in order."""

    def __init__(self) -> None:
        self.heard: list[tuple[str, str]] = []

    def view_starting(self, viewer: Viewer) -> None:
        self.heard.append(("starting", viewer.stream_id))

    def view_started(self, viewer: Viewer, error: Exception | None) -> None:
        self.heard.append(("started" if error is None else "failed", viewer.stream_id))

    async def view_ending(self, viewer: Viewer) -> None:
        assert viewer.stream_id in {s for _, s in self.heard}  # still open: figures readable
        self.heard.append(("ending", viewer.stream_id))


async def test_a_view_filter_chooses_whom_to_view_and_follow_applies_a_change(
    call: Call,
) -> None:
    """The one view-following state machine: `streams` is what the others publish, the
    filter picks, `follow()` applies a new filter, and the watcher hears every view."""
    alice = await call.participant("agent1")
    bob = await call.participant("agent2")
    first = await alice.publish(CAM, small_tracks(CAM))
    second = await bob.publish(CAM, small_tracks(CAM))
    first_id, second_id = first.stream_id, second.stream_id
    assert first_id is not None and second_id is not None
    watcher = _Watcher()
    wanted = {alice.endpoint_id}
    carol = Participant(call.server.base_url, credentials("agent1"), retry=FAST_RETRY)
    await call.stack.enter_async_context(carol)
    carol.view_filter = lambda stream: stream.endpoint_id in wanted
    carol.view_watcher = watcher
    assert call.conference_id is not None
    await carol.join(call.conference_id)
    assert set(carol.streams) == {first_id, second_id}
    assert set(carol.viewers) == {first_id}
    await wait_until(lambda: ("started", first_id) in watcher.heard, "alice viewed")

    wanted = {bob.endpoint_id}
    started = await carol.follow()
    assert [v.stream_id for v in started] == [second_id]
    assert set(carol.viewers) == {second_id}
    await wait_until(lambda: carol.viewers[second_id].frames("video") > 0, "bob's frames")
    assert watcher.heard == [
        ("starting", first_id),
        ("started", first_id),
        ("ending", first_id),
        ("starting", second_id),
        ("started", second_id),
    ]
