"""amqtt stream adapters over an aiohttp WebSocket.

amqtt reads MQTT packets from a byte stream; over WebSocket that stream arrives as binary
messages of any size. These adapters let the broker serve clients that reach it through the
REST server's own port (`/ws`), as in production, instead of a second listener.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from typing import cast

from aiohttp import WSMsgType, web
from amqtt.adapters import ReaderAdapter, WriterAdapter

#: Close code for a client that breaks MQTT-over-WebSocket framing (RFC 6455 protocol error).
WS_PROTOCOL_ERROR = 1002


class WebSocketReader(ReaderAdapter):  # type: ignore[misc]  # amqtt ships no type hints
    """Turns WebSocket binary messages into the byte stream amqtt reads packets from.

    `idle_timeout` enforces the MQTT keep-alive rule on the server side ([MQTT-3.1.2-24]: no
    packet within 1.5 x keep-alive means the client is gone); amqtt's broker does not, and a
    dead peer would otherwise keep its session "connected" forever.
    """

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self._ws = ws
        self._buffer = bytearray()
        self._eof = False
        self.idle_timeout: float | None = None
        self._last_received = time.monotonic()

    def unread(self, data: bytes) -> None:
        """Put bytes back in front of the stream (the CONNECT the gate has already read)."""
        self._buffer[:0] = data

    async def read(self, n: int = -1) -> bytes:
        if n < 0:
            while not self._eof:
                await self._receive()
            n = len(self._buffer)
        while len(self._buffer) < n and not self._eof:
            await self._receive()
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    async def _receive(self) -> None:
        timeout = None
        if self.idle_timeout is not None:
            timeout = self._last_received + self.idle_timeout - time.monotonic()
            if timeout <= 0:
                self._eof = True
                return
        try:
            msg = await self._ws.receive(timeout=timeout)
        except TimeoutError:
            self._eof = True
            return
        if msg.type is WSMsgType.BINARY:
            self._buffer.extend(cast(bytes, msg.data))
            self._last_received = time.monotonic()
        elif msg.type is WSMsgType.TEXT:
            # [MQTT-6.0.0-1]: MQTT control packets travel in binary frames only.
            self._eof = True
            await self._ws.close(code=WS_PROTOCOL_ERROR, message=b"MQTT needs binary frames")
        else:  # CLOSE, CLOSING, CLOSED, ERROR
            self._eof = True

    def feed_eof(self) -> None:
        self._eof = True


class WebSocketWriter(WriterAdapter):  # type: ignore[misc]  # amqtt ships no type hints
    """Sends what amqtt writes as one binary WebSocket message per drain."""

    def __init__(self, ws: web.WebSocketResponse, peer: tuple[str, int]) -> None:
        self._ws = ws
        self._peer = peer
        self._pending = bytearray()

    def write(self, data: bytes) -> None:
        self._pending.extend(data)

    async def drain(self) -> None:
        if not self._pending:
            return
        data = bytes(self._pending)
        self._pending.clear()
        if self._ws.closed:
            raise ConnectionResetError("event channel WebSocket is closed")
        await self._ws.send_bytes(data)

    def get_peer_info(self) -> tuple[str, int]:
        return self._peer

    def get_ssl_info(self) -> ssl.SSLObject | None:
        return None

    async def close(self) -> None:
        if not self._ws.closed:
            # A peer that never answers the close frame must not hold the broker up.
            try:
                async with asyncio.timeout(2):
                    await self._ws.close()
            except TimeoutError:
                pass


def peer_of(request: web.Request) -> tuple[str, int]:
    """The client's address as amqtt wants it: a (host, port) pair."""
    transport = request.transport
    peer = transport.get_extra_info("peername") if transport is not None else None
    if isinstance(peer, tuple) and len(peer) >= 2:
        return str(peer[0]), int(peer[1])
    return request.remote or "unknown", 0
