"""ICE sockets drain their receive buffer per wake-up (`agent.webrtc.seams.udp_reads`).

Two real aioice connections on loopback; no stand-ins. The measure is turns of the event loop,
not time: asyncio alone delivers one datagram per socket per turn, so a burst of N datagrams
needs N turns, and on a loaded loop (50-150 ms a turn) that is seconds of queued media.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aioice
import pytest

from agent.webrtc.seams import udp_reads

pytestmark = pytest.mark.timeout(60)

BURST = 200


@pytest.fixture
async def pair() -> AsyncIterator[tuple[aioice.Connection, aioice.Connection]]:
    a = aioice.Connection(ice_controlling=True, components=1)
    b = aioice.Connection(ice_controlling=False, components=1)
    await asyncio.gather(a.gather_candidates(), b.gather_candidates())
    for local, remote in ((a, b), (b, a)):
        for candidate in remote.local_candidates:
            await local.add_remote_candidate(candidate)
        await local.add_remote_candidate(None)
        local.remote_username, local.remote_password = remote.local_username, remote.local_password
    await asyncio.wait_for(asyncio.gather(a.connect(), b.connect()), 20)
    try:
        yield a, b
    finally:
        await asyncio.gather(a.close(), b.close())


async def test_a_burst_reaches_the_receiver_in_a_few_loop_turns(
    pair: tuple[aioice.Connection, aioice.Connection],
) -> None:
    assert udp_reads.installed()
    a, b = pair
    turns = 0

    def count_turn() -> None:
        nonlocal turns
        turns += 1
        loop.call_soon(count_turn)  # runs once in every later turn of the loop

    loop = asyncio.get_running_loop()
    # The whole burst is in b's socket buffer before the loop turns again.
    for n in range(BURST):
        await a.send(n.to_bytes(4, "big") + bytes(996))
    loop.call_soon(count_turn)
    received: list[int] = []
    async with asyncio.timeout(20):
        while len(received) < BURST:
            data, _component = await b.recvfrom()
            received.append(int.from_bytes(data[:4], "big"))
    assert received == list(range(BURST))  # none lost, in order
    # One datagram per turn would take BURST turns; 32 per wake-up takes about BURST / 32.
    assert turns <= 3 * BURST // udp_reads.MAX_READS_PER_WAKEUP, turns


async def test_other_udp_transports_keep_asyncio_behaviour() -> None:
    loop = asyncio.get_running_loop()
    got: list[bytes] = []
    all_in = asyncio.Event()

    class Sink(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
            got.append(data)
            if len(got) == 3:
                all_in.set()

    receiver, _ = await loop.create_datagram_endpoint(Sink, local_addr=("127.0.0.1", 0))
    sender, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, remote_addr=receiver.get_extra_info("sockname")
    )
    try:
        for n in range(3):
            sender.sendto(bytes([n]))
        await asyncio.wait_for(all_in.wait(), 20)
        assert got == [b"\x00", b"\x01", b"\x02"]
    finally:
        sender.close()
        receiver.close()
