"""The embedded MQTT broker at `/ws`: authentication, topic ACL, mqtt_server publishing, gate,
keep-alive and shutdown. Real aiomqtt clients over real WebSockets on loopback."""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import AsyncIterator

import aiohttp
import aiomqtt
import pytest

from server.embedded import EmbeddedServer
from tests.mqtt_support import (
    RunningBroker,
    client,
    codes,
    eventually,
    make_token,
    next_message,
    no_message,
    running_broker,
)
from tests.platform_support import PlatformUser

# paho maps MQTT 3.1.1 CONNACK codes to MQTT 5 reason codes.
BAD_USERNAME_OR_PASSWORD = 134
CLIENT_ID_NOT_VALID = 133
OTHER_SECRET = "another-secret-0123456789abcdefgh"


@pytest.fixture
async def mqtt_server() -> AsyncIterator[RunningBroker]:
    async with running_broker() as running:
        yield running


async def test_valid_token_connects_subscribes_and_receives_server_events(
    mqtt_server: RunningBroker,
) -> None:
    async with client(mqtt_server.port, "alice", make_token("alice")) as alice:
        granted = await alice.subscribe("user/alice/ep1", qos=1)
        assert codes(granted) == [1]
        await mqtt_server.broker.publish("user/alice/ep1", b'{"type":"Ping"}')
        message = await next_message(alice)
        assert str(message.topic) == "user/alice/ep1"
        assert message.payload == b'{"type":"Ping"}'
        assert message.qos == 1
        assert mqtt_server.broker.connected_users() == ["alice"]


async def test_events_arrive_in_publish_order(mqtt_server: RunningBroker) -> None:
    async with client(mqtt_server.port, "alice", make_token("alice")) as alice:
        await alice.subscribe("user/alice/ep1", qos=1)
        for n in range(50):
            await mqtt_server.broker.publish("user/alice/ep1", str(n).encode())
        received = [int((await next_message(alice)).payload) for _ in range(50)]
        assert received == list(range(50))


async def test_events_reach_every_matching_subscription_while_others_come_and_go(
    mqtt_server: RunningBroker,
) -> None:
    # amqtt walks its subscription table across awaits while broadcasting; clients that
    # subscribe or leave meanwhile must not cost an event to a later matching subscription.
    port, count = mqtt_server.port, 100

    async def churn(stop: asyncio.Event) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            async with client(port, "bob", make_token("bob"), identifier=f"bob-{n}") as bob:
                await bob.subscribe(f"user/bob/ep{n}", qos=1)

    async with (
        client(port, "alice", make_token("alice"), identifier="alice-exact") as exact,
        client(port, "alice", make_token("alice"), identifier="alice-all") as everything,
    ):
        await exact.subscribe("user/alice/ep1", qos=1)
        await everything.subscribe("user/alice/#", qos=1)
        stop = asyncio.Event()
        churning = asyncio.create_task(churn(stop))
        try:
            for n in range(count):
                await mqtt_server.broker.publish("user/alice/ep1", str(n).encode())
                await asyncio.sleep(0.01)
        finally:
            stop.set()
            await churning
        for subscriber in (exact, everything):
            got = [int((await next_message(subscriber)).payload) for _ in range(count)]
            assert got == list(range(count))


@pytest.mark.parametrize(
    ("username", "token"),
    [
        pytest.param("alice", "not-a-jwt", id="garbage password"),
        pytest.param("alice", make_token("alice", secret=OTHER_SECRET), id="foreign signature"),
        pytest.param("mallory", make_token("alice"), id="username is not the sub"),
        pytest.param("alice", make_token("alice", ttl=-60), id="expired token"),
        pytest.param("alice", "", id="empty password"),
    ],
)
async def test_bad_credentials_are_refused(
    mqtt_server: RunningBroker, username: str, token: str
) -> None:
    with pytest.raises(aiomqtt.MqttCodeError) as refused:
        async with client(mqtt_server.port, username, token):
            pass
    assert getattr(refused.value.rc, "value", refused.value.rc) == BAD_USERNAME_OR_PASSWORD
    assert mqtt_server.broker.connected_users() == []


async def test_no_credentials_are_refused(mqtt_server: RunningBroker) -> None:
    anonymous = aiomqtt.Client(
        "127.0.0.1", mqtt_server.port, transport="websockets", websocket_path="/ws", timeout=5
    )
    with pytest.raises(aiomqtt.MqttCodeError):
        async with anonymous:
            pass


async def test_a_user_cannot_subscribe_to_another_users_topics(mqtt_server: RunningBroker) -> None:
    async with client(mqtt_server.port, "alice", make_token("alice")) as alice:
        for topic in ("user/bob/ep1", "user/+/ep1", "user/#", "#", "users/endpoints/ep1"):
            granted = await alice.subscribe(topic, qos=1)
            assert codes(granted) == [0x80], topic
        await mqtt_server.broker.publish("user/bob/ep1", b"for bob")
        await no_message(alice)
        # Wildcards below her own user level are hers.
        granted = await alice.subscribe("user/alice/#", qos=1)
        assert codes(granted) == [1]
        await mqtt_server.broker.publish("user/alice/ep7", b"for alice")
        assert (await next_message(alice)).payload == b"for alice"


async def test_clients_cannot_publish(mqtt_server: RunningBroker) -> None:
    async with (
        client(mqtt_server.port, "alice", make_token("alice")) as alice,
        client(mqtt_server.port, "bob", make_token("bob")) as bob,
    ):
        await alice.subscribe("user/alice/ep1", qos=1)
        await bob.subscribe("user/bob/ep1", qos=1)
        await bob.publish("user/alice/ep1", b"forged", qos=1)
        await alice.publish("user/alice/ep1", b"to myself", qos=1)
        await no_message(alice)
        await no_message(bob)


async def test_a_client_id_in_use_by_another_user_is_refused(mqtt_server: RunningBroker) -> None:
    async with client(
        mqtt_server.port, "alice", make_token("alice"), identifier="shared-id"
    ) as alice:
        await alice.subscribe("user/alice/ep1", qos=1)
        with pytest.raises(aiomqtt.MqttCodeError) as refused:
            async with client(mqtt_server.port, "bob", make_token("bob"), identifier="shared-id"):
                pass
        assert getattr(refused.value.rc, "value", None) == CLIENT_ID_NOT_VALID
        # Alice's session was not taken over: she still gets her events.
        await mqtt_server.broker.publish("user/alice/ep1", b"still here")
        assert (await next_message(alice)).payload == b"still here"


async def test_disconnect_drops_the_users_connections(mqtt_server: RunningBroker) -> None:
    async with client(mqtt_server.port, "alice", make_token("alice")) as alice:
        await alice.subscribe("user/alice/ep1", qos=1)
        assert await mqtt_server.broker.disconnect("alice") == 1
        with pytest.raises(aiomqtt.MqttError):
            await next_message(alice)
    await eventually(lambda: mqtt_server.broker.connected_users() == [])


async def test_plain_http_and_wrong_subprotocol_get_a_clear_400(mqtt_server: RunningBroker) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{mqtt_server.port}/ws") as response:
            assert response.status == 400
            assert "WebSocket" in await response.text()
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(mqtt_server.url, protocols=("chat",))
        assert refused.value.status == 400


def connect_packet(client_id: str, username: str, password: str, keepalive: int) -> bytes:
    """An MQTT 3.1.1 CONNECT with username and password (section 3.1)."""

    def text(value: str) -> bytes:
        data = value.encode()
        return struct.pack("!H", len(data)) + data

    variable = text("MQTT") + bytes([4, 0b1100_0010]) + struct.pack("!H", keepalive)
    body = variable + text(client_id) + text(username) + text(password)
    assert len(body) < 128 * 128
    size = len(body)
    length = bytes([size & 0x7F | 0x80, size >> 7]) if size > 127 else bytes([size])
    return bytes([0x10]) + length + body


async def test_garbage_instead_of_connect_is_closed_and_the_broker_carries_on(
    mqtt_server: RunningBroker,
) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(mqtt_server.url, protocols=("mqtt",))
        await ws.send_bytes(b"\x30\x05hello")  # a PUBLISH before CONNECT
        message = await ws.receive(timeout=5)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        await ws.close()
    async with client(mqtt_server.port, "alice", make_token("alice")) as alice:
        assert codes(await alice.subscribe("user/alice/ep1", qos=1)) == [1]


async def test_a_silent_client_is_dropped_after_one_and_a_half_keepalives(
    mqtt_server: RunningBroker,
) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(mqtt_server.url, protocols=("mqtt",))
        await ws.send_bytes(connect_packet("quiet", "alice", make_token("alice"), keepalive=1))
        connack = await ws.receive(timeout=5)
        assert connack.type is aiohttp.WSMsgType.BINARY
        assert connack.data == b"\x20\x02\x00\x00"  # CONNACK, accepted
        # No PINGREQ from us: the mqtt_server must give up on us (1.5 s; generous bound).
        message = await ws.receive(timeout=10)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        await ws.close()
    await eventually(lambda: mqtt_server.broker.connected_users() == [])


async def test_shutdown_closes_connections_and_leaves_no_tasks() -> None:
    async with running_broker() as running:
        mqtt = client(running.port, "alice", make_token("alice"))
        await mqtt.__aenter__()
        await mqtt.subscribe("user/alice/ep1", qos=1)
    # The broker is gone: the client sees its connection end.
    with pytest.raises(aiomqtt.MqttError):
        await next_message(mqtt)
    await mqtt.__aexit__(None, None, None)
    await asyncio.sleep(0.1)  # let the client's own cancelled tasks finish
    leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert leftover == []


async def test_publish_before_start_is_an_error() -> None:
    from server.broker import EventBroker

    broker = EventBroker(lambda token: token)
    with pytest.raises(RuntimeError, match="not running"):
        await broker.publish("user/a/b", b"{}")


async def test_the_platform_mounts_the_broker_on_its_own_port(
    server: EmbeddedServer, agent: PlatformUser, agent2: PlatformUser
) -> None:
    """Over the embedded platform: its access tokens open the channel, its refresh tokens do
    not, one user cannot subscribe to another's topics, and its events reach the topic."""
    endpoint = await agent.register()
    other_endpoint = await agent2.register()
    assert server.ws_url == f"ws://127.0.0.1:{server.port}/ws"
    with pytest.raises(aiomqtt.MqttCodeError):
        async with client(server.port, agent.user_id, agent.token["refresh_token"]):
            pass
    async with client(server.port, agent.user_id, agent.access_token) as mqtt:
        granted = await mqtt.subscribe(agent.topic(endpoint), qos=1)
        assert codes(granted) == [1]
        refused = await mqtt.subscribe(agent2.topic(other_endpoint), qos=1)
        assert codes(refused) == [0x80]
        sent = await agent2.call(
            "POST",
            "/rtc-api/users/endpoints/sendEvent",
            json={
                "userId": agent.user_id,
                "organizationId": "org1",
                "event": {
                    "type": "HelloEvent",
                    "timestamp": "2024-05-01T10:00:00.000Z",
                    "text": "hi",
                },
                "qos": 1,
            },
        )
        assert sent == 1
        message = await next_message(mqtt)
        assert str(message.topic) == agent.topic(endpoint)
        assert json.loads(message.payload)["text"] == "hi"


async def test_a_disconnected_persistent_session_keeps_its_messages_but_no_connection(
    mqtt_server: RunningBroker,
) -> None:
    """Issue 13: each disconnected persistent session held its WebSocket (and with it the
    request, transport and buffers) for the whole session expiry."""
    token = make_token("alice")
    options = {"identifier": "alice-phone", "clean_session": False}
    async with client(mqtt_server.port, "alice", token, **options) as alice:
        await alice.subscribe("user/alice/ep1", qos=1)
    await eventually(lambda: mqtt_server.broker.connected_users() == [])
    await eventually(lambda: mqtt_server.broker.held_connections() == 0)
    await mqtt_server.broker.publish("user/alice/ep1", b"while away", qos=1)
    async with client(mqtt_server.port, "alice", token, **options) as alice:
        assert mqtt_server.broker.held_connections() == 1
        assert (await next_message(alice)).payload == b"while away"
