"""Real STUN and TURN servers on loopback for the trickle tests (their own tests are in
`test_trickle_servers.py`).

aioice ships STUN/TURN clients but no servers, and the machine has no coturn: these speak the
parts of RFC 8489 / RFC 8656 that aioice's clients use (Binding; long-term credentials,
Allocate, Refresh, CreatePermission, ChannelBind, Send/Data indications and ChannelData), over
real UDP sockets, so the agent's gathering is exercised exactly as against a deployed server.
"""

from __future__ import annotations

import asyncio
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any, Self, cast

from aioice import stun
from aioice.turn import is_channel_data, make_integrity_key

Address = tuple[str, int]


def address_of(addr: tuple[Any, ...]) -> Address:
    return (addr[0], addr[1])


class UdpServer(asyncio.DatagramProtocol):
    """A UDP socket on loopback; subclasses decide what to do with datagrams."""

    transport: asyncio.DatagramTransport

    def __init__(self) -> None:
        self.received: list[Address] = []

    async def start(self, host: str = "127.0.0.1") -> Self:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=(host, 0))
        return self

    @property
    def address(self) -> Address:
        return address_of(self.transport.get_extra_info("sockname"))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.received.append(address_of(addr))

    def close(self) -> None:
        self.transport.close()


class SilentStunServer(UdpServer):
    """A STUN server that never answers: it records each request and drops it."""


def _binding_request(data: bytes) -> stun.Message | None:
    try:
        request = stun.parse_message(data)
    except ValueError:
        return None
    if (
        request.message_class == stun.Class.REQUEST
        and request.message_method == stun.Method.BINDING
    ):
        return request
    return None


def _binding_response(request: stun.Message, mapped: Address) -> bytes:
    response = stun.Message(
        message_method=stun.Method.BINDING,
        message_class=stun.Class.RESPONSE,
        transaction_id=request.transaction_id,
    )
    response.attributes["XOR-MAPPED-ADDRESS"] = mapped
    return bytes(response)


class StunResponder(UdpServer):
    """Answers Binding requests with the source address it saw (XOR-MAPPED-ADDRESS)."""

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        super().datagram_received(data, addr)
        request = _binding_request(data)
        if request is not None:
            self.transport.sendto(_binding_response(request, address_of(addr)), addr)


class NatStunResponder(UdpServer):
    """A STUN server behind which each client sits as behind a NAT, all on loopback.

    Every client socket gets a port of its own (its mapped address, given in the Binding
    answer) that forwards what arrives to the client and what the client sends there back to
    whoever wrote last. With host candidates on 127.0.0.1 the server-reflexive candidate then
    differs from the host one by its port, and a peer that knows only the server-reflexive one
    reaches the client only through the mapping.
    """

    def __init__(self) -> None:
        super().__init__()
        self.mappings: dict[Address, Address] = {}
        self._forwarders: dict[Address, asyncio.DatagramTransport] = {}
        self._answers: set[asyncio.Task[None]] = set()

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        super().datagram_received(data, addr)
        request = _binding_request(data)
        if request is not None:
            task = asyncio.ensure_future(self._answer(request, address_of(addr)))
            self._answers.add(task)
            task.add_done_callback(self._answers.discard)

    async def _answer(self, request: stun.Message, client: Address) -> None:
        if client not in self._forwarders:
            transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                lambda: _Forwarder(client), local_addr=(self.address[0], 0)
            )
            self._forwarders[client] = transport
            self.mappings[client] = address_of(transport.get_extra_info("sockname"))
        self.transport.sendto(_binding_response(request, self.mappings[client]), client)

    def close(self) -> None:
        for task in self._answers:
            task.cancel()
        for transport in self._forwarders.values():
            transport.close()
        super().close()


class _Forwarder(asyncio.DatagramProtocol):
    """One NAT mapping: the outside world to `client`, and `client` back to the last sender."""

    transport: asyncio.DatagramTransport

    def __init__(self, client: Address) -> None:
        self.client = client
        self.peer: Address | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        source = address_of(addr)
        if source != self.client:
            self.peer = source
            self.transport.sendto(data, self.client)
        elif self.peer is not None:
            self.transport.sendto(data, self.peer)


@dataclass
class Allocation:
    client: Address
    relay: asyncio.DatagramTransport
    permissions: set[str] = field(default_factory=set)
    channels: dict[int, Address] = field(default_factory=dict)

    @property
    def relayed_address(self) -> Address:
        return address_of(self.relay.get_extra_info("sockname"))

    def channel_of(self, peer: Address) -> int | None:
        return next((ch for ch, p in self.channels.items() if p == peer), None)


class _RelayProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: TurnServer, client: Address) -> None:
        self.server = server
        self.client = client

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.server.from_peer(self.client, data, address_of(addr))


class _TurnTcpClient(asyncio.Protocol):
    """One TURN-over-TCP client: frames the stream into STUN messages and ChannelData."""

    def __init__(self, server: TurnServer) -> None:
        self.server = server
        self.buffer = b""
        self.peer: Address = ("", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.peer = address_of(transport.get_extra_info("peername"))
        self.server.tcp_clients[self.peer] = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.tcp_clients.pop(self.peer, None)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= 4:
            _, length = struct.unpack("!HH", self.buffer[:4])
            size = 4 + length if is_channel_data(self.buffer) else 20 + length
            size += -size % 4
            if len(self.buffer) < size:
                return
            frame, self.buffer = self.buffer[:size], self.buffer[size:]
            self.server.datagram_received(frame, self.peer)


class TurnServer(UdpServer):
    """TURN over UDP (or TCP) with long-term credentials; relays on `relay_host`."""

    realm = "trickle-test"

    def __init__(self, username: str, password: str, relay_host: str = "127.0.0.1") -> None:
        super().__init__()
        self.username = username
        self.key = make_integrity_key(username, self.realm, password)
        self.nonce = secrets.token_hex(8).encode()
        self.relay_host = relay_host
        self.allocations: dict[Address, Allocation] = {}
        self.allocations_made = 0
        self.unauthenticated = 0
        self.relayed_to_client = 0
        self.relayed_to_peer = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.tcp_clients: dict[Address, asyncio.Transport] = {}
        self._tcp_server: asyncio.Server | None = None

    async def start_tcp(self, host: str = "127.0.0.1") -> Self:
        loop = asyncio.get_running_loop()
        self._tcp_server = await loop.create_server(lambda: _TurnTcpClient(self), host, 0)
        return self

    @property
    def address(self) -> Address:
        if self._tcp_server is not None:
            return address_of(self._tcp_server.sockets[0].getsockname())
        return super().address

    def _send(self, data: bytes, client: Address) -> None:
        tcp = self.tcp_clients.get(client)
        if tcp is not None:
            tcp.write(data + bytes(-len(data) % 4))
        elif self._tcp_server is None:
            self.transport.sendto(data, client)

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        client = address_of(addr)
        super().datagram_received(data, client)
        if len(data) >= 4 and is_channel_data(data):
            channel, length = struct.unpack("!HH", data[:4])
            allocation = self.allocations.get(client)
            if allocation and channel in allocation.channels:
                allocation.relay.sendto(data[4 : 4 + length], allocation.channels[channel])
                self.relayed_to_peer += 1
            return
        try:
            message = stun.parse_message(data)
        except ValueError:
            return
        if message.message_class == stun.Class.INDICATION:
            if message.message_method == stun.Method.SEND:
                allocation = self.allocations.get(client)
                peer = message.attributes.get("XOR-PEER-ADDRESS")
                if allocation and peer and peer[0] in allocation.permissions:
                    allocation.relay.sendto(message.attributes.get("DATA", b""), peer)
                    self.relayed_to_peer += 1
            return
        if message.message_class != stun.Class.REQUEST:
            return
        if not self._authenticated(message):
            self.unauthenticated += 1
            self._reply_error(message, client, 401, "Unauthorized")
            return
        task = asyncio.create_task(self._handle(message, client))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def from_peer(self, client: Address, data: bytes, peer: Address) -> None:
        allocation = self.allocations.get(client)
        if allocation is None or peer[0] not in allocation.permissions:
            return  # RFC 8656 section 11.4: no permission, no relaying
        channel = allocation.channel_of(peer)
        if channel is not None:
            frame = struct.pack("!HH", channel, len(data)) + data
        else:
            indication = stun.Message(
                message_method=stun.Method.DATA, message_class=stun.Class.INDICATION
            )
            indication.attributes["XOR-PEER-ADDRESS"] = peer
            indication.attributes["DATA"] = data
            frame = bytes(indication)
        self._send(frame, client)
        self.relayed_to_client += 1

    def close(self) -> None:
        for allocation in self.allocations.values():
            allocation.relay.close()
        self.allocations.clear()
        for task in self._tasks:
            task.cancel()
        if self._tcp_server is not None:
            self._tcp_server.close()
            for client in self.tcp_clients.values():
                client.close()
        else:
            super().close()

    def _authenticated(self, message: stun.Message) -> bool:
        return (
            message.attributes.get("USERNAME") == self.username
            and message.attributes.get("NONCE") == self.nonce
            and "MESSAGE-INTEGRITY" in message.attributes
            and message.check_message_integrity(self.key)
        )

    async def _handle(self, request: stun.Message, client: Address) -> None:
        response = stun.Message(
            message_method=request.message_method,
            message_class=stun.Class.RESPONSE,
            transaction_id=request.transaction_id,
        )
        allocation = self.allocations.get(client)
        method = request.message_method
        if method == stun.Method.ALLOCATE:
            if allocation is None:
                allocation = await self._allocate(client)
            response.attributes["XOR-RELAYED-ADDRESS"] = allocation.relayed_address
            response.attributes["XOR-MAPPED-ADDRESS"] = client
            response.attributes["LIFETIME"] = request.attributes.get("LIFETIME", 600)
        elif allocation is None:
            self._reply_error(request, client, 437, "Allocation Mismatch")
            return
        elif method == stun.Method.REFRESH:
            lifetime = request.attributes.get("LIFETIME", 600)
            if lifetime == 0:
                allocation.relay.close()
                del self.allocations[client]
            response.attributes["LIFETIME"] = lifetime
        elif method in (stun.Method.CHANNEL_BIND, stun.Method.CREATE_PERMISSION):
            peer = request.attributes["XOR-PEER-ADDRESS"]
            allocation.permissions.add(peer[0])
            if method == stun.Method.CHANNEL_BIND:
                allocation.channels[request.attributes["CHANNEL-NUMBER"]] = peer
        else:
            self._reply_error(request, client, 400, "Bad Request")
            return
        response.add_message_integrity(self.key)
        self._send(bytes(response), client)

    async def _allocate(self, client: Address) -> Allocation:
        loop = asyncio.get_running_loop()
        relay, _ = await loop.create_datagram_endpoint(
            lambda: _RelayProtocol(self, client), local_addr=(self.relay_host, 0)
        )
        allocation = Allocation(client=client, relay=relay)
        self.allocations[client] = allocation
        self.allocations_made += 1
        return allocation

    def _reply_error(self, request: stun.Message, client: Address, code: int, text: str) -> None:
        response = stun.Message(
            message_method=request.message_method,
            message_class=stun.Class.ERROR,
            transaction_id=request.transaction_id,
        )
        response.attributes["ERROR-CODE"] = (code, text)
        if code == 401:
            response.attributes["REALM"] = self.realm
            response.attributes["NONCE"] = self.nonce
        self._send(bytes(response), client)
