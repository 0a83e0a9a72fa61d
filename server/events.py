"""Event delivery: JSON events to the MQTT topic of each recipient user endpoint.

Services produce events synchronously while they change state; one worker publishes them in
that same order. So events of one conference leave in version order however many requests
race, and a slow or failing broker never fails the REST call that caused the event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from agent.api.models.events import EVENT_TYPES, SENT_BY
from server.auth.caller import Caller
from server.errors import BadRequest

log = logging.getLogger(__name__)


def client_event(caller: Caller, event: Mapping[str, Any]) -> dict[str, Any]:
    """An event a client asked the platform to deliver (`sendEvent`), as it goes out: never
    one of the platform's own types, and marked with its sender (`sentBy`, set here whatever
    the client wrote), so no receiver takes it for the platform's word."""
    kind = event.get("type")
    if kind in EVENT_TYPES:
        raise BadRequest(
            f"event.type: {kind} is one of the platform's own events; clients cannot send it"
        )
    return {**event, SENT_BY: {"userId": caller.user_id, "organizationId": caller.organization}}


class EventPublisher(Protocol):
    """What delivery needs of a broker (the real one is `server.broker`)."""

    async def publish(self, topic: str, payload: bytes, qos: int = 1) -> None: ...


@dataclass(frozen=True, slots=True)
class Recipient:
    user_id: str
    user_endpoint_id: str

    @property
    def topic(self) -> str:
        return endpoint_topic(self.user_id, self.user_endpoint_id)


def endpoint_topic(user_id: str, user_endpoint_id: str) -> str:
    """The topic a user endpoint subscribes to (PROTOCOL.md: `user/{userId}/{userEndpointId}`)."""
    return f"user/{user_id}/{user_endpoint_id}"


def legacy_topic_of(topic: str) -> str | None:
    """The older servers' topic (`users/endpoints/{userEndpointId}`) of an endpoint topic."""
    levels = topic.split("/")
    if len(levels) != 3 or levels[0] != "user":
        return None
    return f"users/endpoints/{levels[2]}"


class EventDelivery:
    def __init__(self, publisher: EventPublisher | None = None):
        self._publisher = publisher
        self._queue: asyncio.Queue[tuple[str, bytes, int]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    @property
    def publisher(self) -> EventPublisher | None:
        return self._publisher

    def set_publisher(self, publisher: EventPublisher | None) -> None:
        """Attach the broker once it runs; events queued before that are kept and then sent."""
        self._publisher = publisher

    def send(self, recipients: Iterable[Recipient], event: Mapping[str, Any], qos: int = 1) -> int:
        """Queue `event` for every recipient; returns how many messages were queued."""
        payload = json.dumps(event, separators=(",", ":")).encode()
        count = 0
        for r in recipients:
            self._queue.put_nowait((r.topic, payload, qos))
            count += 1
        return count

    async def start(self) -> None:
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name="event-delivery")

    async def drain(self, within: float = 5.0) -> None:
        """Wait until every queued event has been handed to the publisher (tests, shutdown)."""
        await asyncio.wait_for(self._queue.join(), within)

    async def close(self) -> None:
        if self._worker is None:
            return
        with contextlib.suppress(TimeoutError):
            await self.drain(within=2.0)
        self._worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._worker
        self._worker = None

    async def _run(self) -> None:
        while True:
            topic, payload, qos = await self._queue.get()
            try:
                if self._publisher is None:
                    log.debug("no event publisher: dropped an event for %s", topic)
                else:
                    await self._publisher.publish(topic, payload, qos)
            except Exception as exc:
                log.warning("publishing an event to %s failed: %s", topic, exc)
            finally:
                self._queue.task_done()


class RecordingPublisher:
    """Keeps every published event in memory: for tests of delivery without a broker, and as
    a tap next to the real broker (see `FanoutPublisher`)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self._changed = asyncio.Condition()

    async def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        async with self._changed:
            self.messages.append((topic, json.loads(payload)))
            self._changed.notify_all()

    def events_for(self, topic: str) -> list[dict[str, Any]]:
        return [event for t, event in self.messages if t == topic]

    async def wait_for(
        self,
        predicate: Callable[[str, dict[str, Any]], bool],
        within: float = 5.0,
    ) -> dict[str, Any]:
        """The first event, published or coming, for which `predicate(topic, event)` holds."""

        def found() -> dict[str, Any] | None:
            return next((e for t, e in self.messages if predicate(t, e)), None)

        async with asyncio.timeout(within), self._changed:
            while (event := found()) is None:
                await self._changed.wait()
            return event


class FanoutPublisher:
    """Publishes to several publishers (the broker and a test's recorder)."""

    def __init__(self, *publishers: EventPublisher):
        self.publishers = list(publishers)

    async def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        for p in self.publishers:
            await p.publish(topic, payload, qos)
