"""Trickled ICE end to end: real aiortc peer connections on loopback, real STUN servers.

The agent's pc offers, a second plain aiortc pc answers (standing in for the platform's router,
which is aiortc too); candidates travel between them in their wire form.
"""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
)
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from av import VideoFrame

from agent.api.models import ConferenceStreamType, IceCandidate
from agent.webrtc.candidates import is_end_of_candidates
from agent.webrtc.factory import create_publisher_pc
from agent.webrtc.ice_servers import IceServers, StunServer
from agent.webrtc.trickle import TrickleSession
from tests.stun_turn_support import NatStunResponder, SilentStunServer, StunResponder
from tests.trickle_support import (
    LIVENESS,
    RemotePeer,
    both_connected,
    ice_connection,
    wait_until,
    webrtc_tasks,
)


def without_candidates(sdp: str) -> str:
    """An SDP as if its sender's addresses were all unreachable (none listed, more to come)."""
    return re.sub(r"^a=(candidate:.*|end-of-candidates)\r?\n", "", sdp, flags=re.MULTILINE)


async def test_offer_does_not_wait_for_a_silent_stun_server_and_host_candidates_connect() -> None:
    silent = await SilentStunServer().start()
    pc = create_publisher_pc(ConferenceStreamType.CAM, {"video": VideoStreamTrack()})
    remote = RemotePeer()
    delivered: list[IceCandidate] = []

    async def on_candidate(candidate: IceCandidate) -> None:
        delivered.append(candidate)

    session = TrickleSession(
        pc, IceServers(stun=StunServer(*silent.address)), on_candidate, gather_timeout=1.5
    )
    try:
        started = time.perf_counter()
        offer = await session.create_offer()
        elapsed = time.perf_counter() - started
        print(f"offer ready in {elapsed * 1000:.1f} ms with a silent STUN server")
        assert elapsed < 1.0
        assert "typ host" in offer
        assert "a=end-of-candidates" not in offer  # more candidates are coming
        assert session.offer_candidates
        assert all(c.sdp_mid == "0" for c in session.offer_candidates)

        await session.apply_answer(await remote.answer(offer))
        await wait_until(both_connected(pc, remote.pc), "ICE/DTLS connected on host candidates")
        frame = await asyncio.wait_for(remote.tracks[0].recv(), LIVENESS)
        assert isinstance(frame, VideoFrame) and frame.width > 0

        await wait_until(lambda: session.gathering_complete, "end-of-candidates")
        assert silent.received, "the STUN server was never asked"
        assert [c.candidate for c in delivered] == [""]
        assert delivered[0].sdp_mid is None and delivered[0].sdp_m_line_index is None
    finally:
        await session.close()
        await pc.close()
        await remote.pc.close()
        silent.close()
    assert not webrtc_tasks()


async def test_server_reflexive_candidate_is_trickled_after_the_answer_and_carries_the_media() -> (
    None
):
    """Neither side lists its addresses; only the trickled srflx candidate lets them meet.

    The remote then reaches the agent only through that candidate, which proves the STUN binding
    went out of the socket ICE uses. The STUN server maps each socket to a port of its own, as a
    NAT would, so on loopback the srflx candidate is not the host one under another name. Both
    transports of a bundled MIC_AND_CAM offer gather; only the candidate of the transport that
    survives BUNDLE is sent.
    """
    responder = await NatStunResponder().start()
    pc = create_publisher_pc(
        ConferenceStreamType.MIC_AND_CAM,
        {"audio": AudioStreamTrack(), "video": VideoStreamTrack()},
    )
    remote = RemotePeer()
    delivered: list[IceCandidate] = []

    async def on_candidate(candidate: IceCandidate) -> None:
        delivered.append(candidate)
        await remote.add_candidate(candidate)

    session = TrickleSession(
        pc, IceServers(stun=StunServer(*responder.address)), on_candidate, gather_timeout=5.0
    )
    try:
        offer = await session.create_offer()
        connections = [ice_connection(pc, 0), ice_connection(pc, 1)]

        def srflx_gathered() -> bool:
            return all(
                any(c.type == "srflx" for c in conn.local_candidates) for conn in connections
            )

        await wait_until(srflx_gathered, "srflx candidates added to both aioice connections")
        assert delivered == [], "candidates must wait for the answer"
        assert len(set(responder.received)) == 2  # one binding per transport's IPv4 socket

        answer = await remote.answer(without_candidates(offer))
        await session.apply_answer(without_candidates(answer))
        await wait_until(lambda: session.gathering_complete, "end-of-candidates")
        srflx = [c for c in delivered if not is_end_of_candidates(c)]
        assert len(srflx) == 1
        assert (srflx[0].sdp_mid, srflx[0].sdp_m_line_index) == ("0", 0)
        assert re.match(
            r"candidate:\S+ 1 udp \d+ \S+ \d+ typ srflx raddr \S+ rport \d+$",
            srflx[0].candidate or "",
        )
        host_port = ice_connection(pc, 0)._protocols[0].local_candidate.port
        (mapped,) = (m for c, m in responder.mappings.items() if c[1] == host_port)
        assert mapped[1] != host_port
        assert f" {mapped[0]} {mapped[1]} typ srflx raddr " in (srflx[0].candidate or "")
        assert (srflx[0].candidate or "").endswith(f" rport {host_port}")

        await wait_until(both_connected(pc, remote.pc), "connected through the srflx candidate")
        nominated = ice_connection(remote.pc)._nominated[1]
        assert nominated.remote_candidate.type == "srflx"
        video = next(t for t in remote.tracks if t.kind == "video")
        await asyncio.wait_for(video.recv(), LIVENESS)
    finally:
        await session.close()
        await pc.close()
        await remote.pc.close()
        responder.close()
    assert not webrtc_tasks()
    assert all(not conn._protocols for conn in connections)  # every socket closed


async def test_the_answers_end_of_candidates_waits_for_local_gathering() -> None:
    """aioice fails the checks once remote candidates ended and all pairs failed; a late local
    (relayed) candidate must still get its pairs, so the remote end is applied after ours."""
    silent = await SilentStunServer().start()
    pc = create_publisher_pc(ConferenceStreamType.MIC, {"audio": AudioStreamTrack()})
    remote = RemotePeer()

    async def on_candidate(candidate: IceCandidate) -> None:
        return None

    session = TrickleSession(
        pc, IceServers(stun=StunServer(*silent.address)), on_candidate, gather_timeout=1.0
    )
    try:
        answer = await remote.answer(await session.create_offer())
        assert "a=end-of-candidates" in answer
        await session.apply_answer(answer)
        connection = ice_connection(pc)
        assert not connection._remote_candidates_end
        await wait_until(lambda: session.gathering_complete, "end-of-candidates")
        await wait_until(lambda: connection._remote_candidates_end, "the remote end applied")
        await wait_until(both_connected(pc, remote.pc), "connected")
    finally:
        await session.close()
        await pc.close()
        await remote.pc.close()
        silent.close()


@pytest.mark.parametrize("close_session_first", [False, True])
async def test_closing_mid_gathering_leaves_no_task_and_sends_nothing_more(
    close_session_first: bool,
) -> None:
    silent = await SilentStunServer().start()
    pc = create_publisher_pc(ConferenceStreamType.MIC, {"audio": AudioStreamTrack()})
    remote = RemotePeer()
    delivered: list[IceCandidate] = []

    async def on_candidate(candidate: IceCandidate) -> None:
        delivered.append(candidate)

    # A timeout far beyond the test's bounds: only closing can end the gathering in time.
    session = TrickleSession(
        pc, IceServers(stun=StunServer(*silent.address)), on_candidate, gather_timeout=300
    )
    try:
        await session.apply_answer(await remote.answer(await session.create_offer()))
        await wait_until(lambda: bool(silent.received), "the STUN server asked")
        assert webrtc_tasks()
        if close_session_first:
            await session.close()
            assert not webrtc_tasks()  # close() waits for every task it started
        await pc.close()
        await wait_until(lambda: not webrtc_tasks(), "all agent/webrtc tasks ended")
        assert delivered == []
        await session.close()
    finally:
        await pc.close()
        await remote.pc.close()
        silent.close()


async def test_a_pc_with_ice_servers_is_refused_before_any_network_wait() -> None:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[RTCIceServer("stun:127.0.0.1:9")]))
    pc.addTransceiver("audio", direction="sendonly")

    async def on_candidate(candidate: IceCandidate) -> None:
        return None

    session = TrickleSession(pc, IceServers(), on_candidate)
    try:
        with pytest.raises(ValueError, match="new_peer_connection"):
            await asyncio.wait_for(session.create_offer(), 1.0)
    finally:
        await session.close()
        await pc.close()


async def test_remote_candidates_trickled_after_the_answer_connect() -> None:
    """The answer lists no candidates; the remote's come one by one, then end-of-candidates."""
    pc = create_publisher_pc(ConferenceStreamType.MIC, {"audio": AudioStreamTrack()})
    remote = RemotePeer()

    async def on_candidate(candidate: IceCandidate) -> None:
        return None

    session = TrickleSession(pc, IceServers(), on_candidate, gather_timeout=1.0)
    try:
        answer = await remote.answer(await session.create_offer())
        await session.apply_answer(without_candidates(answer))
        lines = re.findall(r"^a=(candidate:.*?)\r?$", answer, flags=re.MULTILINE)
        assert lines
        for line in lines:
            await session.add_remote_candidate(
                IceCandidate(candidate=line, sdp_mid="0", sdp_m_line_index=0)
            )
        await session.add_remote_candidate(IceCandidate(candidate=""))
        await wait_until(both_connected(pc, remote.pc), "connected on trickled remote candidates")
        remote_types = {c.type for c in ice_connection(pc).remote_candidates}
        assert "host" in remote_types
        with pytest.raises(ValueError, match="malformed ICE candidate"):
            await session.add_remote_candidate(
                IceCandidate(candidate="candidate:nonsense", sdp_mid="0")
            )
    finally:
        await session.close()
        await pc.close()
        await remote.pc.close()


async def test_a_failing_callback_loses_one_candidate_not_the_rest() -> None:
    responder = await StunResponder().start()
    pc = create_publisher_pc(ConferenceStreamType.MIC, {"audio": AudioStreamTrack()})
    remote = RemotePeer()
    calls: list[IceCandidate] = []

    async def on_candidate(candidate: IceCandidate) -> None:
        calls.append(candidate)
        if not is_end_of_candidates(candidate):
            raise RuntimeError("addPublishStreamIceCandidates failed")

    session = TrickleSession(
        pc, IceServers(stun=StunServer(*responder.address)), on_candidate, gather_timeout=5.0
    )
    try:
        await session.apply_answer(await remote.answer(await session.create_offer()))
        await wait_until(lambda: session.gathering_complete, "end-of-candidates")
        assert [" typ srflx " in (c.candidate or "") for c in calls] == [True, False]
        assert is_end_of_candidates(calls[-1])
    finally:
        await session.close()
        await pc.close()
        await remote.pc.close()
        responder.close()
