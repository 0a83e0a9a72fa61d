"""The event channel's MQTT broker, served on the REST server's own port at `/ws`.

amqtt runs in the same event loop as the aiohttp application; an aiohttp WebSocket handler
feeds each connection to amqtt as an "external" listener, so clients reach the broker as in
production: `ws(s)://<host>:<port>/ws`, subprotocol `mqtt`.

Every connection passes a gate before amqtt sees it: the gate reads the CONNECT, checks the
credentials, and refuses a client id held by another user's session. amqtt itself would act
on the CONNECT first (a clean-session CONNECT deletes the existing session of that client id,
and a second connection takes the first one over) and only then ask its auth plugin, so an
unauthenticated client could knock another user off the channel.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web
from amqtt.adapters import BufferReader
from amqtt.broker import Broker
from amqtt.contexts import BrokerConfig, ListenerConfig, ListenerType
from amqtt.mqtt.connack import ConnackPacket
from amqtt.mqtt.connect import ConnectPacket

from agent.webrtc.seams.amqtt import iterate_subscriptions_over_copies
from server.broker_auth import (
    ChannelAccess,
    ChannelAuthError,
    EndpointOwner,
    JwtAuthPlugin,
    TopicAclPlugin,
    Verify,
)
from server.broker_ws import WS_PROTOCOL_ERROR, WebSocketReader, WebSocketWriter, peer_of
from server.events import EventPublisher, FanoutPublisher, legacy_topic_of
from server.platform import PLATFORM_KEY
from server.request_logs import keep_to_one_line

log = logging.getLogger(__name__)
# amqtt's session state machine logs every transition of every client at INFO.
if logging.getLogger("transitions").level == logging.NOTSET:
    logging.getLogger("transitions").setLevel(logging.WARNING)

WS_PATH = "/ws"
SUBPROTOCOL = "mqtt"
_LISTENER = "default"
_CONNECT = 0x10
# CONNACK return codes of MQTT 3.1.1, section 3.2.2.3.
IDENTIFIER_REJECTED = 0x02
BAD_USERNAME_PASSWORD = 0x04
#: A CONNECT carries a client id, a username and a JWT: a few KiB at most.
_MAX_CONNECT_SIZE = 64 * 1024
_APP_KEY: web.AppKey[EventBroker] = web.AppKey("event_broker")


class EventBroker:
    """The MQTT broker of the event channel; `publish` is how the server sends events.

    `verify` checks an access token (raising when it is invalid or expired) and returns its
    subject; the MQTT username must be that user id. `endpoint_owner`, when given, lets a
    user also subscribe to the legacy `users/endpoints/{id}` topic of its own endpoints.
    """

    def __init__(
        self,
        verify: Verify,
        *,
        endpoint_owner: EndpointOwner | None = None,
        connect_timeout: float = 10.0,
        session_expiry: int = 3600,
    ) -> None:
        self.access = ChannelAccess(verify, endpoint_owner)
        self._connect_timeout = connect_timeout
        self._session_expiry = session_expiry
        self._broker: Broker | None = None
        # Open WebSockets by user id ("" until the gate has identified the client).
        self._sockets: dict[web.WebSocketResponse, str] = {}

    @property
    def running(self) -> bool:
        return self._broker is not None

    async def start(self) -> None:
        if self._broker is not None:
            return
        plugin_config = {"access": self.access}
        config = BrokerConfig(
            listeners={
                # amqtt needs a bind value to register a listener; external ones never bind.
                _LISTENER: ListenerConfig(type=ListenerType.EXTERNAL, bind=WS_PATH),
            },
            session_expiry_interval=self._session_expiry,
            plugins={
                f"{JwtAuthPlugin.__module__}.{JwtAuthPlugin.__qualname__}": plugin_config,
                f"{TopicAclPlugin.__module__}.{TopicAclPlugin.__qualname__}": plugin_config,
            },
        )
        broker = Broker(config)
        iterate_subscriptions_over_copies(broker)  # amqtt iterates it across awaits
        await broker.start()
        keep_to_one_line("amqtt")  # its lines quote client ids and topics raw; all loaded now
        self._broker = broker

    async def stop(self) -> None:
        """Close every connection and stop amqtt's tasks; safe to call twice."""
        broker, self._broker = self._broker, None
        sockets = list(self._sockets)
        if broker is not None:
            await broker.shutdown()
        # Connections still at the gate are not amqtt sessions yet.
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)

    async def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        """Queue `payload` for every client subscribed to `topic` (delivered in publish order).

        With legacy topics on (`endpoint_owner`), an event for `user/{userId}/{endpointId}`
        also goes to `users/endpoints/{endpointId}` when someone subscribed to that."""
        broker = self._broker
        if broker is None:
            raise RuntimeError("event broker is not running")
        await broker.internal_message_broadcast(topic, payload, qos)
        legacy = legacy_topic_of(topic) if self.access.legacy_topics else None
        if (
            legacy is not None
            and legacy in broker.subscriptions
            and self.access.serves_legacy(topic.split("/")[1], legacy.split("/")[2])
        ):
            await broker.internal_message_broadcast(legacy, payload, qos)

    def held_connections(self) -> int:
        """Sessions still holding a connection (a disconnected persistent session holds none)."""
        broker = self._broker
        if broker is None:
            return 0
        return sum(1 for _, handler in broker.sessions.values() if handler.writer is not None)

    def connected_users(self) -> list[str]:
        """User ids with an open, authenticated connection (one entry per connection)."""
        return sorted(user for user in self._sockets.values() if user)

    async def disconnect(self, user_id: str) -> int:
        """Drop every connection of `user_id` (the client sees a broken connection).

        For when a user's access ends, and for tests of client reconnection."""
        sockets = [ws for ws, user in self._sockets.items() if user == user_id]
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
        return len(sockets)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """aiohttp handler for `GET /ws`: one MQTT connection for its whole life."""
        ws = web.WebSocketResponse(protocols=(SUBPROTOCOL,), timeout=5.0)
        ready = ws.can_prepare(request)
        if not ready.ok:
            raise web.HTTPBadRequest(text="the event channel needs a WebSocket upgrade request")
        if ready.protocol != SUBPROTOCOL:
            raise web.HTTPBadRequest(text="the event channel needs WebSocket subprotocol 'mqtt'")
        if self._broker is None:
            raise web.HTTPServiceUnavailable(text="the event channel is not running")
        await ws.prepare(request)
        self._sockets[ws] = ""
        try:
            await self._serve(ws, peer_of(request))
        finally:
            self._sockets.pop(ws, None)
            if not ws.closed:
                await ws.close()
        return ws

    async def _serve(self, ws: web.WebSocketResponse, peer: tuple[str, int]) -> None:
        reader = WebSocketReader(ws)
        writer = WebSocketWriter(ws, peer)
        try:
            async with asyncio.timeout(self._connect_timeout):
                raw = await _read_packet(reader)
            connect = await ConnectPacket.from_stream(BufferReader(raw))
        except TimeoutError:
            log.info("event channel: %s sent no CONNECT in time", peer[0])
            return
        except Exception as exc:
            log.info("event channel: %s sent no valid CONNECT (%s)", peer[0], exc)
            await ws.close(code=WS_PROTOCOL_ERROR, message=b"expected an MQTT CONNECT")
            return
        refusal = self._gate(connect)
        if refusal is not None:
            await ConnackPacket.build(0, refusal).to_stream(writer)
            return
        self._sockets[ws] = connect.username
        if connect.keep_alive > 0:
            reader.idle_timeout = 1.5 * connect.keep_alive
        reader.unread(raw)
        broker = self._broker
        if broker is None:
            return
        try:
            await broker.external_connected(reader, writer, _LISTENER)
        finally:
            _let_go(broker, connect.client_id, writer)

    def _gate(self, connect: Any) -> int | None:
        """The CONNACK return code refusing this CONNECT, or None to hand it to amqtt."""
        try:
            user_id = self.access.authenticate(connect.username, connect.password)
        except ChannelAuthError as exc:
            log.info("event channel: refused client %r: %s", connect.client_id, exc)
            return BAD_USERNAME_PASSWORD
        client_id = connect.client_id
        broker = self._broker
        if client_id and broker is not None and client_id in broker.sessions:
            holder = broker.sessions[client_id][0].username
            if holder and holder != user_id:
                log.info("event channel: client id %r belongs to another user", client_id)
                return IDENTIFIER_REJECTED
        return None


def _let_go(broker: Broker, client_id: str, writer: WebSocketWriter) -> None:
    """A persistent session outlives its connection (its subscriptions and queued messages
    wait for the client's return, up to the session expiry); its handler lets go of the
    ended connection, so a returning client's session holds no dead socket meanwhile."""
    entry = broker.sessions.get(client_id) if client_id else None
    if entry is not None and entry[1].writer is writer:
        entry[1].detach()


async def _read_packet(reader: WebSocketReader) -> bytes:
    """Read one whole CONNECT packet (fixed header included) without interpreting it."""
    first = await reader.read(1)
    if first[:1] != bytes([_CONNECT]):
        raise ValueError("first packet is not CONNECT")
    header = bytearray(first)
    length, multiplier = 0, 1
    for _ in range(4):
        byte = await reader.read(1)
        if not byte:
            raise ValueError("connection closed inside the CONNECT header")
        header += byte
        length += (byte[0] & 0x7F) * multiplier
        if not byte[0] & 0x80:
            break
        multiplier *= 128
    else:
        raise ValueError("malformed remaining length")
    if length > _MAX_CONNECT_SIZE:
        raise ValueError("CONNECT too large")
    body = await reader.read(length)
    if len(body) < length:
        raise ValueError("connection closed inside the CONNECT")
    return bytes(header) + body


def setup(app: web.Application, broker: EventBroker | None = None) -> None:
    """Mount the broker on `app`: `GET /ws`, started and stopped with the application.

    Without `broker` (as a route module of `server.app`), it builds one on the platform's token
    service and makes it the platform's event publisher while the application runs (next to
    a publisher already set, such as a test's recorder). It stops at `on_shutdown`, before
    aiohttp waits for open handlers, so connected clients do not hold the shutdown up.
    """
    platform = None
    if broker is None:
        platform = app[PLATFORM_KEY]
        tokens, registrations = platform.tokens, platform.registrations

        def endpoint_owner(endpoint_id: str) -> str | None:
            endpoint = registrations.get(endpoint_id)
            return endpoint.user_id if endpoint is not None else None

        broker = EventBroker(
            lambda token: tokens.verify_access(token).user_id, endpoint_owner=endpoint_owner
        )
    mounted = broker
    app[_APP_KEY] = mounted
    app.router.add_get(WS_PATH, mounted.handle)
    previous: EventPublisher | None = None

    async def start(_: web.Application) -> None:
        nonlocal previous
        await mounted.start()
        if platform is not None:
            previous = platform.events.publisher
            fanout = mounted if previous is None else FanoutPublisher(previous, mounted)
            platform.events.set_publisher(fanout)

    async def stop(_: web.Application) -> None:
        if platform is not None:
            platform.events.set_publisher(previous)
        await mounted.stop()

    app.on_startup.append(start)
    app.on_shutdown.append(stop)


def broker_of(app: web.Application) -> EventBroker:
    """The broker `setup` mounted on `app` (for route handlers that publish events)."""
    return app[_APP_KEY]
