"""`agent.webrtc.seams.udp_gso` on real loopback UDP sockets: one GSO send arrives as separate
datagrams in order; batches it cannot send that way are refused having sent nothing."""

from __future__ import annotations

import asyncio
import socket
import sys

import pytest

from agent.webrtc.seams import udp_gso

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="UDP GSO is Linux's")


class _Sink(asyncio.DatagramProtocol):
    pass


async def _endpoints() -> tuple[asyncio.DatagramTransport, socket.socket]:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(2)
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        _Sink, local_addr=("127.0.0.1", 0)
    )
    return transport, receiver


async def test_one_send_arrives_as_separate_datagrams_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(udp_gso.ENV, "1")
    transport, receiver = await _endpoints()
    try:
        datagrams = [bytes([i]) * 1310 for i in range(4)] + [b"\x09" * 200]
        batches = udp_gso.batches_sent()
        assert udp_gso.send_segments(transport, datagrams, receiver.getsockname())
        assert udp_gso.batches_sent() == batches + 1
        assert [receiver.recv(2048) for _ in datagrams] == datagrams
    finally:
        transport.close()
        receiver.close()


async def test_batches_it_cannot_send_are_refused_having_sent_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(udp_gso.ENV, "1")
    transport, receiver = await _endpoints()
    address = receiver.getsockname()
    receiver.settimeout(0.2)
    try:
        assert not udp_gso.send_segments(transport, [b"a" * 100, b"b" * 90, b"c" * 50], address)
        assert not udp_gso.send_segments(
            transport, [b"a" * 100, b"b" * 101], address
        )  # last larger
        too_many = [b"x" * 10] * (udp_gso.MAX_SEGMENTS + 1)
        assert not udp_gso.send_segments(transport, too_many, address)
        monkeypatch.delenv(udp_gso.ENV)
        assert udp_gso.enabled()  # on by default (this kernel takes GSO: sent above)
        monkeypatch.setenv(udp_gso.ENV, "0")
        assert not udp_gso.enabled()  # turned off: batches go packet by packet
        assert not udp_gso.send_segments(transport, [b"a" * 100, b"b" * 100], address)
        with pytest.raises(TimeoutError):
            receiver.recv(2048)
    finally:
        transport.close()
        receiver.close()
