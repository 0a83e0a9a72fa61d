"""Issue "Media" through the whole platform path (REST, event channel, media router, agents on
loopback): H264 and SCREEN streams, the bitrate cap set over REST, a late viewer's keyframe
asked upstream, lost packets repaired, and every per-stream measurement of the participant.

Nothing is mocked. Where a test must see RTCP or drop one packet, it wraps a method of one
aiortc object of the agent (the only way to watch or lose a packet on loopback).
"""

from __future__ import annotations

import asyncio
import math
import time

import av
import pytest
from aiortc import RTCRtpSender
from aiortc.rtp import RTCP_PSFB_PLI, AnyRtcpPacket, RtcpPsfbPacket

from agent.api.models import ConferenceStreamType, ConferenceUpdatePublishedStreamBitrateWebCommand
from agent.participant import Participant, Publisher, Viewer, ViewPolicy
from media import timecode
from tests.participant_support import AV, CAM, Call, small_tracks
from tests.rtp_support import DropOnce, MovingVideo, lose_on_receive, lose_on_send
from tests.waiting import LIVENESS, wait_until

pytestmark = pytest.mark.slow

SCREEN = ConferenceStreamType.SCREEN


def only_viewer(participant: Participant) -> Viewer:
    (viewer,) = participant.viewers.values()
    return viewer


def video_sender(publisher: Publisher) -> RTCRtpSender:
    assert publisher.link is not None
    (sender,) = [s for s in publisher.link.pc.getSenders() if s.track and s.track.kind == "video"]
    return sender


def encoder_target(sender: RTCRtpSender) -> int | None:
    """The bitrate aiortc's encoder aims at (REMB from the router sets it)."""
    encoder = getattr(sender, "_RTCRtpSender__encoder", None)
    target = getattr(encoder, "target_bitrate", None)
    return target if isinstance(target, int) else None


def video_codecs_in(sdp: str) -> set[str]:
    return {name for name in ("VP8", "H264") if f" {name}/90000" in sdp}


async def test_h264_screen_and_camera_between_two_agents_with_every_measurement(
    call: Call,
) -> None:
    """Alice shares her SCREEN, Bob his MIC_AND_CAM, both in H264 only; each decodes the
    other's video and reads the embedded timecode back, and Alice's callback gets every 5th
    decoded frame. Then every per-stream figure of issue item 5 is in `measurements()`."""
    pictures: list[av.VideoFrame] = []
    alice = await call.participant(
        "agent1",
        video_codecs=("H264",),
        view_policy=ViewPolicy.measuring(
            on_video_frame=lambda frame, _at: pictures.append(frame), video_frame_every=5
        ),
    )
    bob = await call.participant(
        "agent2", video_codecs=("H264",), view_policy=ViewPolicy.measuring()
    )
    screen = await alice.publish(SCREEN, small_tracks(SCREEN))
    camera = await bob.publish(AV, small_tracks(AV))
    await wait_until(lambda: len(alice.viewers) == 1 and len(bob.viewers) == 1, "both view")
    seeing_screen, seeing_camera = only_viewer(bob), only_viewer(alice)
    assert seeing_screen.stream_id == screen.stream_id
    assert seeing_camera.stream_id == camera.stream_id

    await wait_until(
        lambda: seeing_screen.frames("video") >= 20 and seeing_camera.frames("video") >= 20,
        "H264 video decoded on both sides",
    )

    # H264 end to end: offered alone, answered by the router to both sides, never VP8.
    for link in (screen.link, camera.link, seeing_screen.link, seeing_camera.link):
        assert link is not None and link.pc.remoteDescription is not None
        assert video_codecs_in(link.pc.remoteDescription.sdp) == {"H264"}

    # The callback: every 5th decoded frame, pictures that still carry the timecode.
    frames = seeing_camera.frames("video")
    assert abs(len(pictures) - math.ceil(frames / 5)) <= 1, (len(pictures), frames)
    assert {(p.width, p.height) for p in pictures} == {(320, 180)}
    assert sum(timecode.read(p) is not None for p in pictures) >= 0.9 * len(pictures)

    # Per published stream: bitrate, RTT and loss from the router's receiver reports.
    await bob.measurements()  # bitrates are over the time since the previous call
    await asyncio.sleep(1.0)

    async def rtt_known() -> bool:
        published = (await bob.measurements()).publishers[0]
        return all(t.round_trip_time_s is not None for t in published.tracks.values())

    deadline = time.monotonic() + LIVENESS
    while not await rtt_known():
        assert time.monotonic() < deadline, "no RTT from the router's receiver reports"
        await asyncio.sleep(0.5)
    await asyncio.sleep(1.0)  # a second of media for the bitrates of the next call
    figures = await bob.measurements()
    (published,) = figures.publishers
    assert published.stream_type == "MIC_AND_CAM" and published.state == "live"
    assert published.bitrate_bps is not None and published.bitrate_bps > 10_000
    assert set(published.tracks) == {"audio", "video"}
    for sent in published.tracks.values():
        assert sent.round_trip_time_s is not None and 0 <= sent.round_trip_time_s < 2
        assert sent.fraction_lost is not None and 0 <= sent.fraction_lost <= 1
        assert sent.packets_lost is not None and sent.packets_lost >= 0

    # Per viewed stream: Bob's view of the SCREEN (video) and Alice's of the camera (both).
    (viewed_screen,) = figures.viewers
    (viewed_camera,) = (await alice.measurements()).viewers
    assert viewed_screen.stream_type == "SCREEN" and set(viewed_screen.tracks) == {"video"}
    assert viewed_camera.stream_type == "MIC_AND_CAM"
    for viewed in (viewed_screen, viewed_camera):
        assert viewed.bitrate_bps is not None and viewed.bitrate_bps > 10_000
        for kind, track in viewed.tracks.items():
            assert track.time_to_first_frame_s is not None and track.time_to_first_frame_s > 0
            assert track.fps > 5, kind
            assert track.freeze_count >= 0 and track.total_freeze_s >= 0
            assert track.packets_received > 20 and track.packets_lost >= 0
            assert track.jitter_s is not None and 0 <= track.jitter_s < 1
            assert track.delay_ms is not None and (track.delay_ms["count"] or 0) >= 1, kind
            if kind == "video":  # the timecode read back from (nearly) every decoded frame
                assert (track.delay_ms["count"] or 0) >= 0.9 * track.frames, track.delay_ms
            assert track.delay_ms["min"] is not None and track.delay_ms["min"] > 0
    audio = viewed_camera.tracks["audio"]
    assert audio.level_dbfs is not None and (audio.level_dbfs["max"] or -99) > -20
    # Timing marks are short tones in silence: both are measured.
    assert audio.silence_ratio is not None and 0 < audio.silence_ratio < 1


async def test_update_published_stream_bitrate_over_rest_caps_the_publishers_encoder(
    call: Call,
) -> None:
    """publishStream's videoBitrate, then updatePublishedStreamBitrate, reach aiortc's encoder
    of the publishing agent (through the router's REMB) and hold there. The video is noise, so
    the encoder spends whatever it may and the router's own estimate stays above the caps."""
    alice = await call.participant("agent1")
    bob = await call.participant("agent2")
    noise = {"video": MovingVideo(noise=True)}
    publisher = await alice.publish(CAM, noise, video_bitrate=400_000)
    assert publisher.stream_id is not None
    await wait_until(lambda: publisher.stream_id in bob.viewers, "bob views")
    sender = video_sender(publisher)
    await wait_until(lambda: encoder_target(sender) == 400_000, "the cap given at publish")

    assert alice.conference_id is not None and alice.endpoint_id is not None
    await alice.api.conferences.update_published_stream_bitrate(
        ConferenceUpdatePublishedStreamBitrateWebCommand(
            conference_id=alice.conference_id,
            user_endpoint_id=alice.endpoint_id,
            stream_id=publisher.stream_id,
            video_bitrate=300_000,
        )
    )
    await wait_until(lambda: encoder_target(sender) == 300_000, "the cap updated over REST")
    for _ in range(10):  # the router's own estimate keeps running: the cap must hold
        await asyncio.sleep(0.2)
        target = encoder_target(sender)
        assert target is not None and target <= 300_000
    conference = await bob.api.conferences.get(alice.conference_id)
    streams = [s for p in conference.participants or [] for s in p.streams or []]
    assert [s.video_bitrate for s in streams if s.id == publisher.stream_id] == [300_000]


async def test_a_late_viewer_gets_a_keyframe_asked_upstream_at_once(call: Call) -> None:
    """A viewer arriving 2 s late: the router asks the publishing agent for a keyframe (PLI,
    seen in the agent's RTCP) and the viewer starts at one. aiortc's VP8 encoder makes a
    keyframe only every 3000 frames, when asked, or when a REMB moves its bitrate by over 10%
    (it restarts): the PLI assertion is what proves the request (it fails when the router's
    `request_keyframe` does nothing), the first-frame bound only that video came soon."""
    alice = await call.participant("agent1")
    bob = await call.participant("agent2", view_policy=ViewPolicy(auto_view=False))
    publisher = await alice.publish(CAM, small_tracks(CAM))
    assert publisher.stream_id is not None
    sender = video_sender(publisher)
    plis: list[float] = []
    handle = sender._handle_rtcp_packet

    async def watching(packet: AnyRtcpPacket) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_PLI:
            plis.append(time.monotonic())
        await handle(packet)

    sender._handle_rtcp_packet = watching  # type: ignore[method-assign]
    await asyncio.sleep(2.0)  # the stream runs on past its first keyframe
    asked = time.monotonic()
    viewer = await bob.view(publisher.stream_id, CAM)
    await wait_until(lambda: viewer.frames("video") >= 5, "video at the late viewer")
    assert any(t > asked for t in plis), "no keyframe request reached the publisher"
    counter = viewer.sinks["video"].sinks[0]
    assert getattr(counter, "keyframes", 0) >= 1, "the late viewer started at a keyframe"
    ttff = viewer.sinks["video"].timeline.time_to_first_frame
    assert ttff is not None and ttff < LIVENESS / 2


async def test_lost_packets_are_repaired_on_both_legs_through_the_platform(call: Call) -> None:
    """One video packet of Alice's never leaves her (the router NACKs, her sender answers with
    RTX), and one the router sends Bob never arrives (Bob NACKs, the router answers from its
    history as RTX); video goes on at Bob."""
    alice = await call.participant("agent1")
    bob = await call.participant("agent2")
    publisher = await alice.publish(CAM, small_tracks(CAM))
    await wait_until(lambda: len(bob.viewers) == 1, "bob views")
    viewer = only_viewer(bob)
    await wait_until(lambda: viewer.frames("video") >= 5, "first frames")
    assert publisher.link is not None and viewer.link is not None

    upstream_transceiver = publisher.link.pc.getTransceivers()[0]
    upstream = DropOnce(upstream_transceiver, nth=20)
    downstream_transceiver = viewer.link.pc.getTransceivers()[0]
    downstream = DropOnce(downstream_transceiver, nth=30)
    lose_on_send(upstream_transceiver, upstream)
    lose_on_receive(downstream_transceiver, downstream)
    await wait_until(lambda: upstream.done, "the lost upstream packet repaired by RTX")
    await wait_until(lambda: downstream.done, "the lost downstream packet repaired by RTX")
    frames = viewer.frames("video")
    await wait_until(lambda: viewer.frames("video") >= frames + 10, "video goes on")
