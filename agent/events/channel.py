"""The event channel client: MQTT 3.1.1 over WebSocket, as PROTOCOL.md describes it.

One connection per user endpoint: username = the token's `sub`, password = the access token,
one QoS 1 subscription to `user/{userId}/{userEndpointId}`. The channel counts as connected
only after SUBACK grants it. It reconnects with exponential backoff, subscribes again on every
connection, and reconnects at once with the new token when the token provider renews it.

By default the session is persistent (clean session off, one client id for the channel's
life), so the broker queues what arrives while the connection is down; after a reconnect the
conference ordering also asks the events long-poll, which covers a broker that lost the
session. Every payload becomes an event (`parse_event`; unknown types arrive as
`GenericEvent`), and conference events pass through `EventOrdering` on their way to
subscribers and iterators.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

import aiomqtt

from agent.api.models.events import Event, parse_event
from agent.events.ordering import EventOrdering, FetchSince

__all__ = [
    "Backoff",
    "ChannelError",
    "EventChannel",
    "EventStream",
    "RefreshNotifier",
    "TokenSource",
    "channel_url",
    "endpoint_topic",
]

log = logging.getLogger(__name__)
# paho logs its protocol chatter here (never the password: it logs only the flag).
_mqtt_log = logging.getLogger("agent.events.mqtt")


class TokenSource(Protocol):
    """Where the MQTT password comes from (`agent.api.auth.TokenProvider` fits)."""

    async def access_token(self) -> str: ...


@runtime_checkable
class RefreshNotifier(Protocol):
    """A token source that says when it has a new token (`TokenProvider.add_listener`)."""

    def add_listener(self, listener: Callable[[Any], None]) -> Callable[[], None]: ...


class ChannelError(Exception):
    """The channel could not connect or subscribe; the message names the reason."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delays between reconnection attempts: `initial`, doubling, capped at `maximum`."""

    initial: float = 1.0
    maximum: float = 128.0

    def delay(self, attempt: int) -> float:
        return float(min(self.initial * 2 ** min(attempt, 32), self.maximum))


def endpoint_topic(user_id: str, user_endpoint_id: str) -> str:
    return f"user/{user_id}/{user_endpoint_id}"


def channel_url(api_url: str) -> str:
    """The event channel's URL on the same host as the REST API: `http(s)://h:p/...` gives
    `ws(s)://h:p/ws`."""
    parts = urlsplit(api_url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.hostname:
        raise ValueError(f"not an http(s) or ws(s) URL: {api_url!r}")
    return urlunsplit((scheme, parts.netloc, "/ws", "", ""))


class EventStream:
    """An async iterator over the channel's events from the moment it was created; it ends
    when the channel closes."""

    def __init__(self, unsubscribe: Callable[[EventStream], None]) -> None:
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._unsubscribe = unsubscribe
        self._ended = False

    def put(self, event: Event | None) -> None:
        self._queue.put_nowait(event)

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        if self._ended:
            raise StopAsyncIteration
        event = await self._queue.get()
        if event is None:
            self._ended = True
            self._unsubscribe(self)
            raise StopAsyncIteration
        return event

    def close(self) -> None:
        """Stop receiving (the iterator ends after what is already queued)."""
        self._unsubscribe(self)
        self.put(None)


class EventChannel:
    """Events of one user endpoint. `start()`, then `subscribe(callback)` or
    `async for event in channel.events()`; `close()` at the end (or `async with`)."""

    def __init__(
        self,
        url: str,
        tokens: TokenSource,
        user_id: str,
        user_endpoint_id: str,
        *,
        fetch_since: FetchSince | None = None,
        backoff: Backoff | None = None,
        keepalive: int = 60,
        timeout: float = 10.0,
        clean_session: bool = False,
        tls_context: ssl.SSLContext | None = None,
        topic: str | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"event channel URL must be ws:// or wss://, not {url!r}")
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "wss" else 80)
        self._path = parts.path or "/ws"
        if parts.scheme == "wss" and tls_context is None:
            tls_context = ssl.create_default_context()
        self._tls_context = tls_context
        self.url = url
        self.user_id = user_id
        self.topic = topic or endpoint_topic(user_id, user_endpoint_id)
        self.client_id = f"agent-{uuid.uuid4().hex}"
        self._tokens = tokens
        self._backoff = backoff or Backoff()
        self._keepalive = keepalive
        self._timeout = timeout
        self._clean_session = clean_session
        self.ordering = EventOrdering(self._dispatch, fetch_since)

        self._callbacks: list[Callable[[Event], None]] = []
        self._streams: set[EventStream] = set()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._wake = asyncio.Event()  # reconnect now (new token) or close
        self._connected = asyncio.Event()
        self._state_changed = asyncio.Event()
        self._remove_listener: Callable[[], None] | None = None

        self.connections = 0
        """How many times the channel has connected and been granted its subscription."""
        self.received = 0
        self.malformed = 0
        self.last_error: str | None = None

    def __repr__(self) -> str:
        return f"EventChannel(url={self.url!r}, topic={self.topic!r}, connected={self.connected})"

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def start(self) -> None:
        """Begin connecting (in the background; see `wait_connected`)."""
        if self._task is not None:
            return
        if isinstance(self._tokens, RefreshNotifier):
            self._remove_listener = self._tokens.add_listener(lambda _token: self.token_changed())
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"event-channel-{self.topic}"
        )

    async def wait_connected(self, within: float | None = None) -> None:
        """Wait until subscribed; on timeout, `ChannelError` says what went wrong last."""
        try:
            async with asyncio.timeout(within):
                await self._connected.wait()
        except TimeoutError:
            reason = self.last_error or "no answer yet"
            raise ChannelError(
                f"event channel {self.url} not connected after {within} s: {reason}"
            ) from None

    async def wait_disconnected(self, within: float | None = None) -> None:
        """Wait until the current connection is lost (for code that reacts to outages)."""
        async with asyncio.timeout(within):
            while True:
                self._state_changed.clear()
                if not self.connected:
                    return
                await self._state_changed.wait()

    async def __aenter__(self) -> EventChannel:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call `callback(event)` for every event, in order; returns an unsubscribe function.

        Callbacks run on the channel's task: they must not block (hand work to a task)."""
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._callbacks.remove(callback)

        return unsubscribe

    def events(self) -> EventStream:
        """A new iterator over every event from now on."""
        stream = EventStream(self._streams.discard)
        self._streams.add(stream)
        return stream

    def token_changed(self) -> None:
        """The token was renewed: reconnect now with the new one as password."""
        self.reconnect()

    def reconnect(self) -> None:
        """Drop the connection (if any) and connect again at once."""
        self._wake.set()

    async def close(self) -> None:
        """Disconnect, stop reconnecting, end every iterator, cancel ordering fetches."""
        self._closing = True
        self._wake.set()
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        task, self._task = self._task, None
        if task is not None:
            try:
                async with asyncio.timeout(self._timeout + 2):
                    await asyncio.shield(task)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.ordering.close()
        for stream in list(self._streams):
            stream.put(None)
        self._streams.clear()

    async def _run(self) -> None:
        attempt = 0
        while not self._closing:
            self._wake.clear()
            try:
                if await self._session():
                    attempt = 0
            except Exception as exc:  # MQTT, network, refusal, or the token source's errors
                self._note_error(exc)
            if self._closing:
                break
            if self._wake.is_set():
                continue  # asked to reconnect now
            delay = self._backoff.delay(attempt)
            attempt += 1
            log.info("event channel %s: reconnecting in %.1f s", self.topic, delay)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    def _note_error(self, exc: BaseException) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        log.warning("event channel %s: %s", self.topic, self.last_error)

    async def _session(self) -> bool:
        """One connection, until it drops or a reconnect is asked for; True if it got as far
        as being subscribed."""
        password = await self._tokens.access_token()
        client = aiomqtt.Client(
            self._host,
            self._port,
            username=self.user_id,
            password=password,
            identifier=self.client_id,
            clean_session=self._clean_session,
            transport="websockets",
            websocket_path=self._path,
            tls_context=self._tls_context,
            keepalive=self._keepalive,
            timeout=self._timeout,
            logger=_mqtt_log,
        )
        async with client:
            granted = await client.subscribe(self.topic, qos=1)
            if not granted or any(_refused(code) for code in granted):
                raise ChannelError(f"the server refused the subscription to {self.topic}")
            self.connections += 1
            self.last_error = None
            self._set_connected(True)
            log.info("event channel %s: connected (connection %d)", self.topic, self.connections)
            if self.connections > 1:
                self.ordering.resync()
            try:
                await self._pump(client)
            except aiomqtt.MqttError as exc:
                self._note_error(exc)  # the connection dropped
            finally:
                self._set_connected(False)
        return True

    async def _pump(self, client: aiomqtt.Client) -> None:
        """Deliver messages until the connection drops (raises) or `_wake` is set."""
        reader = asyncio.get_running_loop().create_task(self._read(client))
        waker = asyncio.get_running_loop().create_task(self._wake.wait())
        try:
            await asyncio.wait((reader, waker), return_when=asyncio.FIRST_COMPLETED)
        finally:
            waker.cancel()
            if not reader.done():
                reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader  # re-raises the MqttError of a dropped connection

    async def _read(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            self._on_message(str(message.topic), message.payload)

    def _on_message(self, topic: str, payload: Any) -> None:
        self.received += 1
        try:
            event = parse_event(json.loads(payload))
        except (ValueError, TypeError) as exc:
            self.malformed += 1
            log.warning(
                "event channel %s: dropped a message that is not an event (%s)",
                topic,
                type(exc).__name__,
            )
            return
        self.ordering.offer(event)

    def _dispatch(self, event: Event) -> None:
        for callback in list(self._callbacks):
            try:
                callback(event)
            except Exception:
                log.exception("event channel %s: a subscriber failed on %s", self.topic, event.type)
        for stream in list(self._streams):
            stream.put(event)

    def _set_connected(self, connected: bool) -> None:
        if connected:
            self._connected.set()
        else:
            self._connected.clear()
        self._state_changed.set()


def _refused(code: Any) -> bool:
    """SUBACK return code 0x80 (paho gives a ReasonCode for it)."""
    if getattr(code, "is_failure", False):
        return True
    with contextlib.suppress(TypeError, ValueError):
        return int(code) >= 0x80
    return False
