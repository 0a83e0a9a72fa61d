"""Relayed candidates: gathered from a real TURN server on loopback, trickled, and used.

One host cannot make its own host paths unreachable, so the test splits address families: the
agent's host candidates are IPv4 only (127.0.0.1) and the remote's IPv6 only (::1), through
aioice's per-connection `_use_ipv4`/`_use_ipv6` switches set before gathering, and the TURN
server relays on ::1. Only the agent's relayed candidate can then pair with the remote's, so a
connection proves the relay works end to end, on loopback only.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from aiortc import RTCPeerConnection
from aiortc.mediastreams import VideoStreamTrack

from agent.api.models import ConferenceStreamType, IceCandidate, IceServersResultV2
from agent.network import IDEAL, OUTAGE, NetworkShaper
from agent.webrtc.candidates import is_end_of_candidates
from agent.webrtc.factory import create_publisher_pc
from agent.webrtc.host_addresses import LOOPBACK, parse_host_addresses, scoped_host_addresses
from agent.webrtc.ice_servers import IceServers, ice_servers_from_v2
from agent.webrtc.trickle import TrickleSession
from tests.stun_turn_support import TurnServer
from tests.trickle_support import (
    LIVENESS,
    RemotePeer,
    both_connected,
    ice_connection,
    wait_until,
)
from tests.trickle_support import webrtc_tasks as pending_webrtc_tasks

USERNAME = "1700000000:agent"
PASSWORD = "turn-secret-9f3c"


async def start_turn_server(transport: str, relay_host: str = "127.0.0.1") -> TurnServer:
    server = TurnServer(USERNAME, PASSWORD, relay_host=relay_host)
    return await (server.start_tcp() if transport == "tcp" else server.start())


def platform_ice_servers(
    server: TurnServer, transport: str = "udp", password: str = PASSWORD
) -> IceServers:
    host, port = server.address
    return ice_servers_from_v2(
        IceServersResultV2.model_validate(
            {
                "turn": f"turn:{host}:{port}?transport={transport}",
                "turnUsername": USERNAME,
                "turnPassword": password,
                "ttl": 86400,
            }
        )
    )


def has_ipv6_loopback() -> bool:
    try:
        parse_host_addresses(["::1"], "IPv6 loopback")
    except ValueError:
        return False
    return True


def ipv6_only(pc: RTCPeerConnection) -> None:
    for transceiver in pc.getTransceivers():
        transceiver.receiver.transport.transport._connection._use_ipv4 = False


@pytest.mark.skipif(
    not has_ipv6_loopback(), reason="the address-family split needs ::1 (IPv6 is off here)"
)
@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_relayed_candidate_is_trickled_and_carries_the_media(transport: str) -> None:
    with scoped_host_addresses((*LOOPBACK, "::1")):
        await relayed_candidate_is_trickled_and_carries_the_media(transport)


async def relayed_candidate_is_trickled_and_carries_the_media(transport: str) -> None:
    turn = await start_turn_server(transport, relay_host="::1")
    pc = create_publisher_pc(ConferenceStreamType.CAM, {"video": VideoStreamTrack()})
    ice_connection(pc)._use_ipv6 = False
    remote = RemotePeer()
    delivered: list[IceCandidate] = []

    async def on_candidate(candidate: IceCandidate) -> None:
        delivered.append(candidate)
        await remote.add_candidate(candidate)

    servers = platform_ice_servers(turn, transport)
    assert servers.turn is not None and servers.turn.transport == transport
    session = TrickleSession(pc, servers, on_candidate, gather_timeout=5.0)
    try:
        offer = await session.create_offer()
        assert "typ relay" not in offer
        answer = await remote.answer(offer, before_gathering=ipv6_only)
        await session.apply_answer(answer)

        await wait_until(lambda: session.gathering_complete, "end-of-candidates")
        relayed = [c for c in delivered if not is_end_of_candidates(c)]
        assert len(relayed) == 1
        assert " typ relay " in (relayed[0].candidate or "")
        assert (relayed[0].sdp_mid, relayed[0].sdp_m_line_index) == ("0", 0)
        relay_host, relay_port = next(iter(turn.allocations.values())).relayed_address
        assert f" {relay_host} {relay_port} typ relay" in (relayed[0].candidate or "")

        await wait_until(both_connected(pc, remote.pc), "connected through the TURN relay")
        assert ice_connection(pc)._nominated[1].local_candidate.type == "relay"
        await asyncio.wait_for(remote.tracks[0].recv(), LIVENESS)
        assert turn.relayed_to_peer > 0 and turn.relayed_to_client > 0
        connection = ice_connection(pc)
    finally:
        await session.close()
        await pc.close()
        await remote.pc.close()
    try:
        # Closing the pc gives the allocation back (aioice deletes it through the session's
        # socket, which must therefore be owned by the connection).
        await wait_until(lambda: not turn.allocations, "the TURN allocation deleted")
    finally:
        turn.close()
    assert not pending_webrtc_tasks()
    assert not connection._protocols  # host and relay sockets closed


async def test_refused_turn_credentials_end_the_gathering_without_waiting_for_the_timeout() -> None:
    turn = await start_turn_server("udp")
    pc = create_publisher_pc(ConferenceStreamType.CAM, {"video": VideoStreamTrack()})
    remote = RemotePeer()
    delivered: list[IceCandidate] = []

    async def on_candidate(candidate: IceCandidate) -> None:
        delivered.append(candidate)

    servers = platform_ice_servers(turn, password="not-the-password")
    session = TrickleSession(pc, servers, on_candidate, gather_timeout=300)
    try:
        started = time.monotonic()
        await session.apply_answer(await remote.answer(await session.create_offer()))
        await wait_until(lambda: session.gathering_complete, "end-of-candidates")
        print(f"end-of-candidates {time.monotonic() - started:.2f} s after a TURN 401")
        assert [c.candidate for c in delivered] == [""]
        assert turn.unauthenticated >= 2  # the first try and the retry with the realm's nonce
        assert turn.allocations_made == 0
        await wait_until(both_connected(pc, remote.pc), "connected on host candidates")
    finally:
        await session.close()
        await pc.close()
        await remote.pc.close()
        turn.close()


@pytest.mark.skipif(
    not has_ipv6_loopback(), reason="the address-family split needs ::1 (IPv6 is off here)"
)
async def test_impairment_applies_to_relayed_traffic() -> None:
    """Issue 17: a participant's link shapes what it sends and receives through a TURN
    relay too (its TURN client's socket): an outage stops the relayed media at the TURN
    server's door, and it flows again after."""
    with scoped_host_addresses((*LOOPBACK, "::1")):
        turn = await start_turn_server("udp", relay_host="::1")
        pc = create_publisher_pc(ConferenceStreamType.CAM, {"video": VideoStreamTrack()})
        ice_connection(pc)._use_ipv6 = False
        remote = RemotePeer()
        link = NetworkShaper()

        async def on_candidate(candidate: IceCandidate) -> None:
            link.attach(pc)  # as the participant's link does for each trickled candidate
            await remote.add_candidate(candidate)

        session = TrickleSession(pc, platform_ice_servers(turn), on_candidate, gather_timeout=5.0)
        try:
            offer = await session.create_offer()
            link.attach(pc)
            await session.apply_answer(await remote.answer(offer, before_gathering=ipv6_only))
            await wait_until(both_connected(pc, remote.pc), "connected through the TURN relay")
            assert ice_connection(pc)._nominated[1].local_candidate.type == "relay"
            await asyncio.wait_for(remote.tracks[0].recv(), LIVENESS)
            assert link.up.counters.delivered > 0 and link.down.counters.delivered > 0

            link.apply(OUTAGE)
            await asyncio.sleep(0.3)  # what was on the way arrives
            relayed = turn.relayed_to_peer
            await asyncio.sleep(1.0)
            assert turn.relayed_to_peer == relayed  # nothing reached the TURN server
            assert link.up.counters.lost > 0
            link.apply(IDEAL)
            await wait_until(lambda: turn.relayed_to_peer > relayed + 10, "relayed again")
        finally:
            link.close()
            await session.close()
            await pc.close()
            await remote.pc.close()
            turn.close()
