"""The event channel client against the real broker over a real WebSocket on loopback:
typed events, unknown types, reconnection, re-subscription, token renewal, refusals."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agent.api.models.events import (
    ConferenceJoinedEvent,
    ConferenceStreamPublishedEvent,
    Event,
    GenericEvent,
)
from agent.events.channel import Backoff, ChannelError, EventChannel, channel_url
from tests.mqtt_support import RunningBroker, Tokens, eventually, make_token, running_broker

TOPIC = "user/alice/ep1"
FAST = Backoff(initial=0.05, maximum=0.5)


@pytest.fixture
async def server() -> AsyncIterator[RunningBroker]:
    async with running_broker() as running:
        yield running


def channel_for(server: RunningBroker, tokens: Tokens, **options: Any) -> EventChannel:
    options.setdefault("backoff", FAST)
    return EventChannel(server.url, tokens, "alice", "ep1", timeout=5, **options)


def conference_event(version: int, kind: str = "ConferenceJoinedEvent", **extra: Any) -> bytes:
    return json.dumps(
        {
            "id": f"e{version}",
            "type": kind,
            "timestamp": "2024-05-01T10:00:00.123Z",
            "conferenceId": "c1",
            "conferenceVersion": version,
            "userId": "bob",
            "userEndpointId": "bob-ep",
            **extra,
        }
    ).encode()


async def receive(stream: AsyncIterator[Event], within: float = 5.0) -> Event:
    async with asyncio.timeout(within):
        return await anext(stream)


async def test_connected_means_subscribed_and_events_arrive_typed(server: RunningBroker) -> None:
    seen: list[Event] = []
    async with channel_for(server, Tokens(make_token("alice"))) as channel:
        channel.subscribe(seen.append)
        stream = channel.events()
        await channel.wait_connected(within=10)
        # Connected only after SUBACK: a publish right now must reach us.
        await server.broker.publish(TOPIC, conference_event(3))
        event = await receive(stream)
        assert isinstance(event, ConferenceJoinedEvent)
        assert (event.conference_id, event.conference_version) == ("c1", 3)
        assert event.user_endpoint_id == "bob-ep"
        assert event.timestamp is not None and event.timestamp.microsecond == 123000
        assert seen == [event]
        assert channel.connections == 1


async def test_unknown_event_types_arrive_as_generic_events(server: RunningBroker) -> None:
    async with channel_for(server, Tokens(make_token("alice"))) as channel:
        stream = channel.events()
        await channel.wait_connected(within=10)
        payload = {"type": "BrandNewEvent", "id": "x1", "colour": "teal", "count": 3}
        await server.broker.publish(TOPIC, json.dumps(payload).encode())
        event = await receive(stream)
        assert isinstance(event, GenericEvent)
        assert event.type == "BrandNewEvent"
        assert event.model_extra == {"colour": "teal", "count": 3}
        assert event.to_wire() == payload


async def test_malformed_messages_are_dropped_and_the_channel_carries_on(
    server: RunningBroker,
) -> None:
    async with channel_for(server, Tokens(make_token("alice"))) as channel:
        stream = channel.events()
        await channel.wait_connected(within=10)
        for junk in (b"not json", b"[1, 2]", b'{"no": "type"}', b"\xff\xfe"):
            await server.broker.publish(TOPIC, junk)
        await server.broker.publish(
            TOPIC, conference_event(1, "ConferenceStreamPublishedEvent", streamId="s1")
        )
        event = await receive(stream)
        assert isinstance(event, ConferenceStreamPublishedEvent)
        assert event.stream_id == "s1"
        assert channel.malformed == 4
        assert channel.received == 5


async def test_reconnects_and_subscribes_again_after_the_broker_drops_it(
    server: RunningBroker,
) -> None:
    # A clean session: only a new SUBSCRIBE can bring events after the reconnection.
    async with channel_for(server, Tokens(make_token("alice")), clean_session=True) as channel:
        stream = channel.events()
        await channel.wait_connected(within=10)
        assert await server.broker.disconnect("alice") == 1
        await channel.wait_disconnected(within=10)
        await channel.wait_connected(within=10)
        assert channel.connections == 2
        await server.broker.publish(TOPIC, conference_event(7))
        event = await receive(stream)
        assert isinstance(event, ConferenceJoinedEvent) and event.conference_version == 7


async def test_events_sent_while_disconnected_arrive_after_reconnecting(
    server: RunningBroker,
) -> None:
    """The default persistent session: the broker queues QoS 1 events for the channel."""
    slow = Backoff(initial=1.0, maximum=1.0)
    async with channel_for(server, Tokens(make_token("alice")), backoff=slow) as channel:
        stream = channel.events()
        await channel.wait_connected(within=10)
        await server.broker.disconnect("alice")
        await eventually(lambda: server.broker.connected_users() == [])
        assert not channel.connected
        await server.broker.publish(TOPIC, conference_event(8))
        event = await receive(stream, within=10)
        assert isinstance(event, ConferenceJoinedEvent) and event.conference_version == 8
        assert channel.connections == 2


async def test_a_renewed_token_reconnects_with_the_new_password(server: RunningBroker) -> None:
    tokens = Tokens(make_token("alice", ttl=60))
    async with channel_for(server, tokens) as channel:
        stream = channel.events()
        await channel.wait_connected(within=10)
        renewed = make_token("alice", ttl=3600)
        tokens.renew(renewed)
        await eventually(lambda: channel.connections == 2 and channel.connected, within=10)
        assert server.verifier.accepted[-1] == renewed
        await server.broker.publish(TOPIC, conference_event(9))
        assert (await receive(stream)).id == "e9"


async def test_a_refused_token_is_reported_and_retried(
    server: RunningBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    expired = make_token("alice", ttl=-10)
    tokens = Tokens(expired)
    async with channel_for(server, tokens) as channel:
        with pytest.raises(ChannelError, match="user name or password"):
            await channel.wait_connected(within=2)
        assert tokens.calls >= 2  # it kept trying, asking for a token each time
        good = make_token("alice")
        tokens.token = good  # a provider that renewed without telling anyone
        await channel.wait_connected(within=10)
    assert expired not in caplog.text
    assert good not in caplog.text


async def test_a_refused_subscription_is_reported(server: RunningBroker) -> None:
    tokens = Tokens(make_token("alice"))
    async with channel_for(server, tokens, topic="user/bob/ep9") as channel:
        with pytest.raises(ChannelError, match="refused the subscription to user/bob/ep9"):
            await channel.wait_connected(within=2)
        assert not channel.connected


async def test_close_ends_iterators_and_leaves_no_tasks(server: RunningBroker) -> None:
    before = asyncio.all_tasks()  # the broker's own
    channel = channel_for(server, Tokens(make_token("alice")))
    await channel.start()
    stream = channel.events()
    await channel.wait_connected(within=10)
    await channel.close()
    assert [event async for event in stream] == []
    await eventually(lambda: server.broker.connected_users() == [])
    await asyncio.sleep(0.1)  # aiomqtt's own cancelled helpers finish
    assert [t for t in asyncio.all_tasks() - before if t is not asyncio.current_task()] == []


async def test_a_closed_server_means_backoff_not_a_crash() -> None:
    async with running_broker() as running:
        url = running.url
    channel = EventChannel(url, Tokens(make_token("alice")), "alice", "ep1", backoff=FAST)
    async with channel:
        with pytest.raises(ChannelError, match="not connected"):
            await channel.wait_connected(within=1)
        assert channel.last_error is not None


async def test_missed_conference_events_are_fetched_after_a_reconnection(
    server: RunningBroker,
) -> None:
    """Clean session: what was sent while down is lost on MQTT, so the ordering asks the
    long-poll (an in-memory log standing in for the REST call; the end-to-end test uses it)."""
    from agent.api.models.events import parse_event

    conference_log = [parse_event(json.loads(conference_event(v))) for v in range(1, 4)]
    fetched: list[int] = []

    async def fetch_since(conference_id: str, version: int) -> list[Event]:
        fetched.append(version)
        return [e for e in conference_log if getattr(e, "conference_version", 0) >= version]

    tokens = Tokens(make_token("alice"))
    async with channel_for(server, tokens, clean_session=True, fetch_since=fetch_since) as channel:
        stream = channel.events()
        await channel.wait_connected(within=10)
        channel.ordering.track("c1", 1)
        await server.broker.publish(TOPIC, conference_event(1))
        assert (await receive(stream)).id == "e1"
        await server.broker.disconnect("alice")
        await channel.wait_disconnected(within=10)
        await server.broker.publish(TOPIC, conference_event(2))  # nobody subscribed: lost
        await channel.wait_connected(within=10)
        assert [(await receive(stream)).id for _ in range(2)] == ["e2", "e3"]
        assert fetched == [2]


def test_backoff_doubles_from_one_second_to_128() -> None:
    backoff = Backoff()
    assert [backoff.delay(n) for n in range(9)] == [1, 2, 4, 8, 16, 32, 64, 128, 128]
    assert backoff.delay(10_000) == 128


def test_channel_url_is_on_the_api_host() -> None:
    assert channel_url("http://127.0.0.1:8080/rtc-api") == "ws://127.0.0.1:8080/ws"
    assert channel_url("https://auvious.example.com") == "wss://auvious.example.com/ws"
    with pytest.raises(ValueError, match="not an http"):
        channel_url("ftp://example.com")
    with pytest.raises(ValueError, match="ws:// or wss://"):
        EventChannel("http://x/ws", Tokens("t"), "u", "e")
