"""A late viewer's first frame: time from asking to view to the first decoded frame.

Real participants, platform, router and aiortc on loopback. The publisher's encoder makes a
keyframe only at start and when asked (aiortc: a GOP of 3000 frames), so a viewer joining later
gets its first frame only because the router asks the publisher (PLI) when the viewer connects.
The bound is generous for a loaded machine; unloaded it is about 0.2 s. Under load, what used to
delay it by seconds was every socket reading one datagram per event-loop turn
(`agent.webrtc.seams.udp_reads`; its own test counts turns).
"""

from __future__ import annotations

import asyncio

import pytest

from agent.participant import Participant, ViewPolicy
from server.embedded import EmbeddedServer
from tests.participant_support import AV, Call, router_of, small_tracks
from tests.waiting import LIVENESS, wait_until

pytestmark = pytest.mark.timeout(120)

FIRST_FRAME_BOUND = 5.0  # seconds: generous, the machine is shared
ROUNDS = 3


async def time_to_first_frame(participant: Participant, stream_id: str) -> float:
    viewer = await participant.view(stream_id, AV)
    await wait_until(lambda: viewer.frames("video") >= 1, "a first frame", LIVENESS)
    first = viewer.sinks["video"].measurements().time_to_first_frame_s
    assert first is not None
    return first


async def test_a_late_viewer_gets_a_frame_soon_after_connecting(
    server: EmbeddedServer, call: Call
) -> None:
    alice = await call.participant("agent1")
    bob = await call.participant("agent2", view_policy=ViewPolicy(auto_view=False))
    publisher = await alice.publish(AV, small_tracks(AV))
    stream_id = publisher.stream_id
    assert stream_id is not None
    await asyncio.sleep(1.5)  # past the publisher's first keyframe: bob is late
    video_in = router_of(server)._publications[stream_id].ingress["video"]
    for _ in range(ROUNDS):
        asked_before = video_in.keyframe_requests_sent
        first = await time_to_first_frame(bob, stream_id)
        assert first < FIRST_FRAME_BOUND
        assert video_in.keyframe_requests_sent > asked_before  # the router asked for it
        await bob.stop_viewing(stream_id)
        await asyncio.sleep(0.6)  # past the router's keyframe-request spacing
