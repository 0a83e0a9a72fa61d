"""The event channel client against the real broker over a real WebSocket on loopback:
typed events, unknown types, reconnection, re-subscription, token renewal, refusals."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from agent.api.auth import ClientCredentials
from agent.api.client import AuviousClient
from agent.api.models.conferences import (
    CreateConferenceWebCommand,
    JoinConferenceWebCommand,
    LeaveConferenceWebCommand,
    MetadataOperation,
    UpdateConferenceMetadataWebCommand,
)
from agent.api.models.events import (
    ConferenceEvent,
    ConferenceJoinedEvent,
    ConferenceLeftEvent,
    ConferenceMetadataUpdatedEvent,
    ConferenceStreamPublishedEvent,
    Event,
    GenericEvent,
)
from agent.api.models.registrations import RegisterUserEndpointWebCommand
from agent.events.channel import Backoff, ChannelError, EventChannel, TokenSource, channel_url
from server.broker import broker_of
from server.embedded import EmbeddedServer
from server.events import RecordingPublisher
from tests.mqtt_support import RunningBroker, Tokens, eventually, make_token, running_broker
from tests.platform_support import CLIENTS

TOPIC = "user/alice/ep1"
FAST = Backoff(initial=0.05, maximum=0.5)


@pytest.fixture
async def mqtt_server() -> AsyncIterator[RunningBroker]:
    async with running_broker() as running:
        yield running


def channel_for(mqtt_server: RunningBroker, tokens: Tokens, **options: Any) -> EventChannel:
    options.setdefault("backoff", FAST)
    return EventChannel(mqtt_server.url, tokens, "alice", "ep1", timeout=5, **options)


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


async def test_connected_means_subscribed_and_events_arrive_typed(
    mqtt_server: RunningBroker,
) -> None:
    seen: list[Event] = []
    async with channel_for(mqtt_server, Tokens(make_token("alice"))) as channel:
        channel.subscribe(seen.append)
        stream = channel.events()
        await channel.wait_connected(within=10)
        # Connected only after SUBACK: a publish right now must reach us.
        await mqtt_server.broker.publish(TOPIC, conference_event(3))
        event = await receive(stream)
        assert isinstance(event, ConferenceJoinedEvent)
        assert (event.conference_id, event.conference_version) == ("c1", 3)
        assert event.user_endpoint_id == "bob-ep"
        assert event.timestamp is not None and event.timestamp.microsecond == 123000
        assert seen == [event]
        assert channel.connections == 1


async def test_unknown_event_types_arrive_as_generic_events(mqtt_server: RunningBroker) -> None:
    async with channel_for(mqtt_server, Tokens(make_token("alice"))) as channel:
        stream = channel.events()
        await channel.wait_connected(within=10)
        payload = {"type": "BrandNewEvent", "id": "x1", "colour": "teal", "count": 3}
        await mqtt_server.broker.publish(TOPIC, json.dumps(payload).encode())
        event = await receive(stream)
        assert isinstance(event, GenericEvent)
        assert event.type == "BrandNewEvent"
        assert event.model_extra == {"colour": "teal", "count": 3}
        assert event.to_wire() == payload


async def test_malformed_messages_are_dropped_and_the_channel_carries_on(
    mqtt_server: RunningBroker,
) -> None:
    async with channel_for(mqtt_server, Tokens(make_token("alice"))) as channel:
        stream = channel.events()
        await channel.wait_connected(within=10)
        for junk in (b"not json", b"[1, 2]", b'{"no": "type"}', b"\xff\xfe"):
            await mqtt_server.broker.publish(TOPIC, junk)
        await mqtt_server.broker.publish(
            TOPIC, conference_event(1, "ConferenceStreamPublishedEvent", streamId="s1")
        )
        event = await receive(stream)
        assert isinstance(event, ConferenceStreamPublishedEvent)
        assert event.stream_id == "s1"
        assert channel.malformed == 4
        assert channel.received == 5


async def test_reconnects_and_subscribes_again_after_the_broker_drops_it(
    mqtt_server: RunningBroker,
) -> None:
    # A clean session: only a new SUBSCRIBE can bring events after the reconnection.
    async with channel_for(mqtt_server, Tokens(make_token("alice")), clean_session=True) as channel:
        stream = channel.events()
        await channel.wait_connected(within=10)
        assert await mqtt_server.broker.disconnect("alice") == 1
        await channel.wait_disconnected(within=10)
        await channel.wait_connected(within=10)
        assert channel.connections == 2
        await mqtt_server.broker.publish(TOPIC, conference_event(7))
        event = await receive(stream)
        assert isinstance(event, ConferenceJoinedEvent) and event.conference_version == 7


async def test_events_sent_while_disconnected_arrive_after_reconnecting(
    mqtt_server: RunningBroker,
) -> None:
    """The default persistent session: the broker queues QoS 1 events for the channel."""
    slow = Backoff(initial=1.0, maximum=1.0)
    async with channel_for(mqtt_server, Tokens(make_token("alice")), backoff=slow) as channel:
        stream = channel.events()
        await channel.wait_connected(within=10)
        await mqtt_server.broker.disconnect("alice")
        await eventually(lambda: mqtt_server.broker.connected_users() == [])
        assert not channel.connected
        await mqtt_server.broker.publish(TOPIC, conference_event(8))
        event = await receive(stream, within=10)
        assert isinstance(event, ConferenceJoinedEvent) and event.conference_version == 8
        assert channel.connections == 2


async def test_a_renewed_token_reconnects_with_the_new_password(mqtt_server: RunningBroker) -> None:
    tokens = Tokens(make_token("alice", ttl=60))
    async with channel_for(mqtt_server, tokens) as channel:
        stream = channel.events()
        await channel.wait_connected(within=10)
        renewed = make_token("alice", ttl=3600)
        tokens.renew(renewed)
        await eventually(lambda: channel.connections == 2 and channel.connected, within=10)
        assert mqtt_server.verifier.accepted[-1] == renewed
        await mqtt_server.broker.publish(TOPIC, conference_event(9))
        assert (await receive(stream)).id == "e9"


async def test_a_refused_token_is_reported_and_retried(
    mqtt_server: RunningBroker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    expired = make_token("alice", ttl=-10)
    tokens = Tokens(expired)
    async with channel_for(mqtt_server, tokens) as channel:
        with pytest.raises(ChannelError, match="user name or password"):
            await channel.wait_connected(within=2)
        assert tokens.calls >= 2  # it kept trying, asking for a token each time
        good = make_token("alice")
        tokens.token = good  # a provider that renewed without telling anyone
        await channel.wait_connected(within=10)
    assert expired not in caplog.text
    assert good not in caplog.text


async def test_a_refused_subscription_is_reported(mqtt_server: RunningBroker) -> None:
    tokens = Tokens(make_token("alice"))
    async with channel_for(mqtt_server, tokens, topic="user/bob/ep9") as channel:
        with pytest.raises(ChannelError, match="refused the subscription to user/bob/ep9"):
            await channel.wait_connected(within=2)
        assert not channel.connected


async def test_close_ends_iterators_and_leaves_no_tasks(mqtt_server: RunningBroker) -> None:
    before = asyncio.all_tasks()  # the broker's own
    channel = channel_for(mqtt_server, Tokens(make_token("alice")))
    await channel.start()
    stream = channel.events()
    await channel.wait_connected(within=10)
    await channel.close()
    assert [event async for event in stream] == []
    await eventually(lambda: mqtt_server.broker.connected_users() == [])
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
    mqtt_server: RunningBroker,
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
    async with channel_for(
        mqtt_server, tokens, clean_session=True, fetch_since=fetch_since
    ) as channel:
        stream = channel.events()
        await channel.wait_connected(within=10)
        channel.ordering.track("c1", 1)
        await mqtt_server.broker.publish(TOPIC, conference_event(1))
        assert (await receive(stream)).id == "e1"
        await mqtt_server.broker.disconnect("alice")
        await channel.wait_disconnected(within=10)
        await mqtt_server.broker.publish(TOPIC, conference_event(2))  # nobody subscribed: lost
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


# End to end: the embedded platform (REST, token service, conference service, broker at /ws),
# real API clients, real channels. Nothing is stood in for.


class Inbox:
    """Every event a participant's channel delivered, in delivery order."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._arrived = asyncio.Event()

    def __call__(self, event: Event) -> None:
        self.events.append(event)
        self._arrived.set()

    async def wait_for(self, predicate: Callable[[Event], bool], within: float = 10.0) -> Event:
        async with asyncio.timeout(within):
            while True:
                self._arrived.clear()
                found = next((e for e in self.events if predicate(e)), None)
                if found is not None:
                    return found
                await self._arrived.wait()

    def versions(self, conference_id: str) -> list[int]:
        """The conference's versions as they came; every conference event must carry one."""
        seen = []
        for e in self.events:
            if isinstance(e, ConferenceEvent) and e.conference_id == conference_id:
                assert e.conference_version is not None, f"no conferenceVersion: {e!r}"
                seen.append(e.conference_version)
        return seen


@dataclass
class Participant:
    api: AuviousClient
    channel: EventChannel
    user_id: str
    endpoint_id: str
    inbox: Inbox

    async def join(self, conference_id: str) -> int:
        """Join as PROTOCOL.md says: join, read simpleView, order events from its version."""
        self.channel.ordering.expect(conference_id)
        await self.api.conferences.join(
            JoinConferenceWebCommand(conference_id=conference_id, user_endpoint_id=self.endpoint_id)
        )
        view = await self.api.conferences.simple_view(conference_id)
        assert view.version is not None
        self.channel.ordering.track(conference_id, view.version)
        return view.version

    async def leave(self, conference_id: str) -> None:
        await self.api.conferences.leave(
            LeaveConferenceWebCommand(
                conference_id=conference_id, user_endpoint_id=self.endpoint_id
            )
        )
        self.channel.ordering.forget(conference_id)

    def caused_by(self, kind: type[Event]) -> Callable[[Event], bool]:
        return lambda e: isinstance(e, kind) and e.user_endpoint_id == self.endpoint_id


class GatedTokens:
    """Hands out the provider's token only while the gate is open: holds a reconnection."""

    def __init__(self, provider: TokenSource) -> None:
        self.provider = provider
        self.gate = asyncio.Event()
        self.gate.set()

    async def access_token(self) -> str:
        await self.gate.wait()
        return await self.provider.access_token()


@pytest.fixture
async def participants(server: EmbeddedServer) -> AsyncIterator[Callable[..., Any]]:
    async with contextlib.AsyncExitStack() as stack:

        async def make(client_id: str, **channel_options: Any) -> Participant:
            auth = ClientCredentials(client_id, CLIENTS[client_id][1])
            api = AuviousClient(server.base_url, auth)
            stack.push_async_callback(api.close)
            sub = (await api.claims()).sub
            assert sub is not None
            endpoint_id = await api.registrations.register(
                RegisterUserEndpointWebCommand(keep_alive_seconds=60)
            )
            tokens = channel_options.pop("tokens", auth)
            channel = EventChannel(
                server.ws_url,
                tokens,
                sub,
                endpoint_id,
                fetch_since=channel_options.pop("fetch_since", api.conferences.events),
                backoff=FAST,
                **channel_options,
            )
            inbox = Inbox()
            channel.subscribe(inbox)
            await channel.start()
            stack.push_async_callback(channel.close)
            await channel.wait_connected(within=10)
            return Participant(api, channel, sub, endpoint_id, inbox)

        yield make


async def test_two_participants_see_each_others_join_and_leave_in_order(
    participants: Callable[..., Any],
) -> None:
    alice: Participant = await participants("agent1")
    bob: Participant = await participants("agent2")
    assert alice.user_id != bob.user_id
    created = await alice.api.conferences.create(CreateConferenceWebCommand())
    assert created.id is not None
    conference = created.id

    await alice.join(conference)
    await bob.join(conference)
    await alice.inbox.wait_for(bob.caused_by(ConferenceJoinedEvent))
    await alice.leave(conference)
    await bob.inbox.wait_for(alice.caused_by(ConferenceLeftEvent))
    await alice.join(conference)
    await bob.inbox.wait_for(alice.caused_by(ConferenceJoinedEvent))
    await bob.leave(conference)
    await alice.inbox.wait_for(bob.caused_by(ConferenceLeftEvent))

    for someone in (alice, bob):
        seen = someone.inbox.versions(conference)
        assert seen == sorted(seen) and len(set(seen)) == len(seen), seen
    # Bob was in the conference throughout Alice's leave and return: he saw every version.
    bob_seen = bob.inbox.versions(conference)
    assert bob_seen
    assert bob_seen == list(range(bob_seen[0], bob_seen[0] + len(bob_seen)))


async def test_a_dropped_channel_catches_up_from_the_long_poll(
    server: EmbeddedServer, recorder: RecordingPublisher, participants: Callable[..., Any]
) -> None:
    fetched: list[int] = []
    auth = ClientCredentials("agent1", CLIENTS["agent1"][1])
    tokens = GatedTokens(auth)
    long_poll = AuviousClient(server.base_url, auth)

    async def fetch_since(conference_id: str, version: int) -> list[Event]:
        fetched.append(version)
        return await long_poll.conferences.events(conference_id, version)

    # A clean session: the broker keeps nothing for Alice while she is away, so whatever
    # she gets afterwards comes from the long-poll.
    alice: Participant = await participants(
        "agent1", tokens=tokens, fetch_since=fetch_since, clean_session=True
    )
    bob: Participant = await participants("agent2")
    try:
        created = await bob.api.conferences.create(CreateConferenceWebCommand())
        assert created.id is not None
        conference = created.id
        start = await alice.join(conference)
        await bob.join(conference)
        await alice.inbox.wait_for(bob.caused_by(ConferenceJoinedEvent))

        tokens.gate.clear()  # Alice cannot reconnect until the gate opens
        assert await broker_of(server.app).disconnect(alice.user_id) == 1
        await alice.channel.wait_disconnected(within=10)
        for n in range(3):
            await bob.api.conferences.update_metadata(
                UpdateConferenceMetadataWebCommand(
                    conference_id=conference,
                    user_endpoint_id=bob.endpoint_id,
                    operation=MetadataOperation.SET,
                    key=f"k{n}",
                    value=str(n),
                )
            )
        await bob.leave(conference)  # the last event: no later one would reveal the gap
        alice_topic = f"user/{alice.user_id}/{alice.endpoint_id}"
        await recorder.wait_for(
            lambda topic, event: topic == alice_topic and event["type"] == "ConferenceLeftEvent"
        )
        assert not any(isinstance(e, ConferenceMetadataUpdatedEvent) for e in alice.inbox.events)

        tokens.gate.set()
        await alice.inbox.wait_for(bob.caused_by(ConferenceLeftEvent))
        assert alice.channel.connections == 2
        assert alice.inbox.versions(conference) == list(range(start, start + 5))
        kinds = [type(e) for e in alice.inbox.events if isinstance(e, ConferenceEvent)]
        assert kinds == [
            ConferenceJoinedEvent,
            *[ConferenceMetadataUpdatedEvent] * 3,
            ConferenceLeftEvent,
        ]
        assert start + 1 in fetched  # asked from the first version it had not seen
    finally:
        await long_poll.close()
