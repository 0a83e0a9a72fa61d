"""Media end to end: agents publish and view through the embedded platform's media router, on
loopback, with real aiortc peer connections and the real MQTT event channel. Nothing mocked;
the STUN server that never answers is a real UDP socket that drops every request.
"""

from __future__ import annotations

import asyncio
import time
import wave
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest

from agent.participant import Reception, ViewPolicy
from agent.webrtc import seams
from media import passthrough
from server.embedded import EmbeddedServer
from server.media.contract import Candidate
from tests.participant_support import AV, Call, router_of, small_tracks
from tests.platform_support import CLIENTS, LONG_POLL_SECONDS
from tests.stun_turn_support import SilentStunServer, StunResponder, UdpServer
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

MEDIA_SECONDS = 3.0


@pytest.mark.serial  # recorded track lengths within 20% of the call
async def test_two_agents_see_and_hear_each_other_and_record_the_call(
    server: EmbeddedServer, call: Call, tmp_path: Path
) -> None:
    policy = ViewPolicy.measuring(record_dir=tmp_path)
    alice = await call.participant("agent1", view_policy=policy)
    bob = await call.participant("agent2", view_policy=policy)
    publishing_at = time.time()
    await alice.publish(AV, small_tracks())
    await bob.publish(AV, small_tracks())
    await wait_until(lambda: len(alice.viewers) == 1 and len(bob.viewers) == 1, "both view")
    viewers = [next(iter(p.viewers.values())) for p in (alice, bob)]
    await wait_until(
        lambda: all(v.frames("video") > 0 and v.frames("audio") > 0 for v in viewers),
        "first video and audio frames on both sides",
    )
    await asyncio.sleep(MEDIA_SECONDS)

    for me in (alice, bob):
        figures = await me.measurements()
        print(figures.to_dict())
        (viewed,) = figures.viewers
        assert viewed.state == "live" and viewed.replacements == 0
        video, audio = viewed.tracks["video"], viewed.tracks["audio"]
        assert video.delay_ms is not None and video.delay_ms["count"]
        assert video.delay_ms["count"] >= 10, "the timecode was read back"
        assert video.delay_ms["min"] is not None and video.delay_ms["min"] > 0
        assert video.fps > 5
        assert video.time_to_first_frame_s is not None and video.time_to_first_frame_s > 0
        assert video.packets_received > 20
        assert audio.frames >= 50 and audio.packets_received >= 50
        assert audio.level_dbfs is not None and audio.level_dbfs["max"] is not None
        assert audio.level_dbfs["max"] > -20, "the timing marks were heard"
        assert viewed.bytes_received > 10_000
        (published,) = figures.publishers
        assert published.state == "live"
        assert published.tracks["video"].packets_sent > 20
        assert published.tracks["audio"].packets_sent >= 50

    recorded = viewers[0]
    # The call, as each kind of media lived it: from its first frame to the leave.
    video_from = recorded.sinks["video"].timeline.first_at
    audio_from = recorded.sinks["audio"].timeline.first_at
    assert video_from is not None and audio_from is not None
    # The recordings end when leave closes the viewer, somewhere between its start and its
    # end; under load leave itself can take most of a second, so both bound the call.
    leaving_at = time.time()
    await alice.leave()
    left_at = time.time()
    video_file = recorded.sinks["video"].recording
    audio_file = recorded.sinks["audio"].recording
    assert video_file is not None and audio_file is not None
    with av.open(str(video_file)) as container:
        stream = container.streams.video[0]
        assert stream.time_base is not None
        last_pts = max(packet.pts for packet in container.demux(stream) if packet.pts is not None)
        video_seconds = float(last_pts * stream.time_base)
    with wave.open(str(audio_file)) as wav:
        audio_seconds = wav.getnframes() / wav.getframerate()
    # Video is stamped on arrival. Audio keeps the sender's clock (gaps filled with silence):
    # when the one event loop that runs everyone lags, audio sent earlier arrives in a burst
    # (the recording reaches back before its first arrival, never before publish), and what
    # is still queued at leave is lost (it ends before the leave by as much as the lag).
    for kind, recorded_seconds, since, earliest, least in (
        ("video", video_seconds, video_from, video_from, 0.9),
        ("audio", audio_seconds, audio_from, publishing_at, 0.8),
    ):
        shortest, longest = leaving_at - since, left_at - earliest
        print(f"{kind}: call {shortest:.2f}-{longest:.2f} s, recorded {recorded_seconds:.2f} s")
        assert least * shortest <= recorded_seconds <= 1.1 * longest, kind


@pytest.fixture(params=["silent", "answering"])
async def stun_server(request: pytest.FixtureRequest) -> AsyncIterator[UdpServer]:
    """A STUN server on loopback that drops every request, or one that answers them."""
    stun = SilentStunServer() if request.param == "silent" else StunResponder()
    await stun.start()
    yield stun
    stun.close()


@pytest.fixture
async def stun_platform(stun_server: UdpServer) -> AsyncIterator[EmbeddedServer]:
    """The platform with its ICE servers pointing at the STUN server."""
    host, port = stun_server.address
    async with EmbeddedServer(
        [spec for spec, _ in CLIENTS.values()],
        long_poll_seconds=LONG_POLL_SECONDS,
        housekeeping_interval=0.05,
        ice_servers=(f"stun:{host}:{port}",),
    ) as srv:
        yield srv


async def test_offer_leaves_at_once_whatever_the_stun_server_and_candidates_trickle(
    stun_platform: EmbeddedServer, stun_server: UdpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The offer never waits for STUN; late candidates (srflx, when the server answers) and
    end-of-candidates reach the platform through addPublishStreamIceCandidates."""
    router = router_of(stun_platform)
    offers_at: dict[str, float] = {}
    candidates_seen: dict[str, list[Candidate]] = {}
    publish, add_candidates = router.publish, router.add_publish_candidates

    async def record_publish(
        conference_id: str, stream_id: str, sdp_offer: str, stream_type: str | None = None
    ) -> str:
        offers_at[stream_id] = time.time()
        return await publish(conference_id, stream_id, sdp_offer, stream_type)

    async def record_candidates(stream_id: str, candidates: list[Candidate]) -> None:
        candidates_seen.setdefault(stream_id, []).extend(candidates)
        await add_candidates(stream_id, candidates)

    monkeypatch.setattr(router, "publish", record_publish)
    monkeypatch.setattr(router, "add_publish_candidates", record_candidates)

    async with AsyncExitStack() as stack:
        call = Call(stun_platform, stack)
        alice = await call.participant("agent1", gather_timeout=1.5)
        bob = await call.participant("agent2", gather_timeout=1.5)
        publisher = await alice.publish(AV, small_tracks())
        assert publisher.stream_id is not None
        stream_id = publisher.stream_id

        (record,) = alice.timeline.find("publish")
        request_ms = record.details["request_ms"]
        arrived_ms = (offers_at[stream_id] - record.started_at) * 1000
        print(
            f"offer to publishStream request: {request_ms:.1f} ms (at the server {arrived_ms:.1f})"
        )
        assert request_ms < 1000, "the offer waited for the STUN server"
        assert arrived_ms < 1500
        ice = alice.timeline.find("ice-servers")[0].details
        assert ice["stun"] is True, "the platform's STUN server was given to the agent"

        await wait_until(lambda: stream_id in bob.viewers, "bob views alice's stream")
        await wait_until(lambda: bob.viewers[stream_id].frames("video") >= 10, "media flows")
        await wait_until(
            lambda: any(c.is_end_of_candidates for c in candidates_seen.get(stream_id, [])),
            "end-of-candidates reaches the platform",
        )
        assert stun_server.received, "the STUN server was asked"
        seen = candidates_seen[stream_id]
        assert [c.is_end_of_candidates for c in seen].count(True) == 1
        assert seen[-1].is_end_of_candidates, "end-of-candidates comes last"
        late = [c.candidate for c in seen[:-1] if "typ host" not in c.candidate]
        if isinstance(stun_server, SilentStunServer):
            assert late == [], "no answer, no server-reflexive candidate"
        else:
            assert late and all("typ srflx" in c for c in late)
            assert "typ host" in seen[0].candidate, "the offer's host candidates go first"
        assert publisher.link is not None
        assert publisher.link.timings.end_of_candidates_ms is not None
        if isinstance(stun_server, SilentStunServer):
            end_ms = publisher.link.timings.end_of_candidates_ms
            assert end_ms >= 1000, "end-of-candidates waits for the gathering timeout"


async def test_light_sampled_and_callback_reception_through_the_router(call: Call) -> None:
    """Sampled video decodes keyframes only, on request every half second; decoded audio
    reaches a 16 kHz PCM callback; the only decoder built is the audio one."""
    assert "decoders" in seams.install(["decoders"])
    pictures: list[av.VideoFrame] = []
    pcm: list[npt.NDArray[np.int16]] = []
    policy = ViewPolicy(
        video=Reception.SAMPLED,
        sample_interval=0.5,
        on_video_frame=lambda frame, _at: pictures.append(frame),
        audio=Reception.DECODE,
        on_pcm=lambda samples, _at: pcm.append(samples),
    )
    alice = await call.participant("agent1")
    await alice.publish(AV, small_tracks())
    decoders_before = passthrough.decoder_constructions()
    bob = await call.participant("agent2", view_policy=policy)
    await wait_until(lambda: len(bob.viewers) == 1, "bob views")
    await wait_until(
        lambda: len(pictures) >= 3 and sum(p.size for p in pcm) >= 16_000,
        "three sampled pictures and a second of PCM",
    )
    assert {(p.width, p.height) for p in pictures} == {(320, 180)}
    assert {p.dtype for p in pcm} == {np.dtype(np.int16)}
    assert passthrough.decoder_constructions() == decoders_before + 1, "audio only"
    (viewed,) = (await bob.measurements()).viewers
    video = viewed.tracks["video"]
    assert video.reception == "sampled"
    assert video.delay_ms is not None and (video.delay_ms["count"] or 0) >= 1, "keyframe delay"
    assert video.frames > len(pictures), "every frame counted, only keyframes decoded"
    assert viewed.tracks["audio"].reception == "decode"
