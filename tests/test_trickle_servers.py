"""The loopback STUN and TURN servers of `tests/stun_turn_support.py`: the trickle tests rely
on them behaving like real ones.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aioice import stun
from aioice.turn import create_turn_endpoint

from tests.stun_turn_support import Address, TurnServer, address_of


class _Sink(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, Address]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.queue.put_nowait((data, address_of(addr)))


async def test_turn_server_relays_both_ways_for_an_aioice_client() -> None:
    server = await TurnServer("user", "secret-password").start()
    loop = asyncio.get_running_loop()
    peer_transport, peer = await loop.create_datagram_endpoint(_Sink, local_addr=("127.0.0.1", 0))
    peer_address = address_of(peer_transport.get_extra_info("sockname"))
    try:
        relay, client = await create_turn_endpoint(
            _Sink, server_addr=server.address, username="user", password="secret-password"
        )
        relayed = relay.get_extra_info("sockname")
        assert server.allocations_made == 1

        relay.sendto(b"to peer", peer_address)
        data, source = await asyncio.wait_for(peer.queue.get(), 5)
        assert (data, source) == (b"to peer", relayed)

        peer_transport.sendto(b"to client", relayed)
        data, source = await asyncio.wait_for(client.queue.get(), 5)
        assert (data, source) == (b"to client", peer_address)

        relay.close()
        await asyncio.sleep(0)  # the deletion is a task of its own
        for _ in range(50):
            if not server.allocations:
                break
            await asyncio.sleep(0.1)
        assert not server.allocations
    finally:
        peer_transport.close()
        server.close()


async def test_turn_server_refuses_a_wrong_password() -> None:
    server = await TurnServer("user", "secret-password").start()
    try:
        with pytest.raises(stun.TransactionFailed) as failure:
            await create_turn_endpoint(
                _Sink, server_addr=server.address, username="user", password="wrong"
            )
        assert failure.value.response.error_code == 401
        assert server.allocations_made == 0
    finally:
        server.close()
