"""A real event broker on a real aiohttp server, for the broker and channel tests.

Tokens are HS256 JWTs made with PyJWT here; the platform's own token service is exercised by
the end-to-end tests over the embedded server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
import jwt
import pytest
from aiohttp import web

from server.broker import EventBroker, setup

SECRET = "broker-test-secret-0123456789abcdef"


def make_token(sub: str, ttl: float = 300.0, secret: str = SECRET) -> str:
    now = time.time()
    return jwt.encode({"sub": sub, "iat": int(now), "exp": int(now + ttl)}, secret, "HS256")


@dataclass
class Verifier:
    """Checks tokens like the platform does, and remembers which ones it accepted."""

    accepted: list[str] = field(default_factory=list, repr=False)

    def __call__(self, token: str) -> str:
        claims = jwt.decode(token, SECRET, algorithms=["HS256"], options={"require": ["exp"]})
        self.accepted.append(token)
        return str(claims["sub"])


@dataclass
class RunningBroker:
    broker: EventBroker
    verifier: Verifier
    port: int

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"


@asynccontextmanager
async def running_broker(**options: Any) -> AsyncIterator[RunningBroker]:
    verifier = Verifier()
    broker = EventBroker(verifier, **options)
    app = web.Application()
    setup(app, broker)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]  # the port the OS chose for port 0
    try:
        yield RunningBroker(broker, verifier, port)
    finally:
        await runner.cleanup()


async def eventually(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Wait for server-side state that has no event to wait on (generous bound)."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - polling state owned by amqtt
            await asyncio.sleep(0.02)


class Tokens:
    """A token source whose token the test replaces, telling listeners as a provider does."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.calls = 0
        self._listeners: list[Callable[[Any], None]] = []

    async def access_token(self) -> str:
        self.calls += 1
        return self.token

    def add_listener(self, listener: Callable[[Any], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def renew(self, token: str) -> None:
        self.token = token
        for listener in list(self._listeners):
            listener(token)


def client(port: int, user: str, token: str, **options: Any) -> aiomqtt.Client:
    """An MQTT client on the broker's WebSocket endpoint, the way the agent connects."""
    return aiomqtt.Client(
        "127.0.0.1",
        port,
        username=user,
        password=token,
        transport="websockets",
        websocket_path="/ws",
        timeout=5,
        **options,
    )


async def next_message(mqtt: aiomqtt.Client, within: float = 5.0) -> aiomqtt.Message:
    async with asyncio.timeout(within):
        async for message in mqtt.messages:
            return message
    raise AssertionError("message iterator ended")


async def no_message(mqtt: aiomqtt.Client, within: float = 0.5) -> None:
    """Nothing arrives for a while (the negative half of an ACL check)."""
    with pytest.raises(TimeoutError):
        await next_message(mqtt, within)


def codes(granted: Sequence[Any]) -> list[int]:
    """SUBACK return codes, whichever type (int or ReasonCode) aiomqtt gives them as."""
    return [code if isinstance(code, int) else code.value for code in granted]
