"""The API client against the embedded platform: ICE servers (both versions, TURN
credentials kept out of reprs and logs) and the Talkdesk calls, with the bad-input and
other-organization cases. Real HTTP on loopback, the real server."""

from __future__ import annotations

import logging

import pytest

from agent.api.auth import ClientCredentials
from agent.api.client import AuviousClient
from agent.api.endpoints import talkdesk as talkdesk_calls
from agent.api.errors import ApiError
from agent.api.models.interactions import CreateInteractionWebCommand
from agent.api.models.talkdesk import (
    Meta,
    RequestData,
    TalkdeskContactActivityRequest,
    TalkdeskCreateTalkdeskRequest,
)
from server.embedded import EmbeddedServer
from tests.api_client_support import (
    AGENT1,
    AGENT2,
    ClientFactory,
    connect,
    server,
)

__all__ = ["connect", "server"]  # fixtures, imported for pytest

STUN = "stun:127.0.0.1:3478"
TURN = "turn:127.0.0.1:3478?transport=udp"


async def test_ice_servers_both_versions(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with (
        EmbeddedServer(
            clients=[f"{AGENT1[0]}:{AGENT1[1]}:AGENT:org1"],
            ice_servers=(STUN, TURN),
            turn_secret="turn-signing-secret",
        ) as srv,
        AuviousClient(srv.base_url, ClientCredentials(*AGENT1)) as client,
    ):
        v2 = await client.ice.servers_v2()
        assert (v2.stun, v2.turn) == (STUN, TURN)
        assert v2.ttl is not None and v2.ttl > 0
        sub = (await client.claims()).sub
        assert sub and v2.turn_username and sub in v2.turn_username
        assert v2.turn_password
        v1 = await client.ice.servers()
        urls = [url for server in v1.ice_servers or [] for url in server.urls or []]
        assert urls == [STUN, TURN]
        turn = (v1.ice_servers or [])[1]
        assert turn.username and turn.credential
        logging.getLogger("test").info("ice servers: %r %r", v2, v1)
        for secret in (v2.turn_password, turn.credential):
            assert secret not in repr(v2) + repr(v1) + caplog.text


async def test_talkdesk_create_validate_and_activity(connect: ClientFactory) -> None:
    client = await connect()
    created = await client.talkdesk.create(
        TalkdeskCreateTalkdeskRequest(data=RequestData(contact_id="contact-1"))
    )
    assert created.contact_external_id or created.message
    validated = await client.talkdesk.validate_authorization({"token": "x", "n": 1})
    assert isinstance(validated, dict)
    assert all(isinstance(v, str) for v in validated.values())

    interaction = await client.interactions.create(
        CreateInteractionWebCommand(type="video", data={"customerId": "contact-1"})
    )
    request = TalkdeskContactActivityRequest(
        meta=Meta(interaction_types=["video"]), data=RequestData(contact_id="contact-1")
    )
    activity = await client.talkdesk.activity(request, host="tenant.example")
    assert [item.id for item in activity] == [interaction.interaction_id]
    # The Host header the contract asks for is the one the links are made with.
    assert activity[0].url and "tenant.example" in activity[0].url

    stranger = await connect(AGENT2)
    assert await stranger.talkdesk.activity(request, host="tenant.example") == []

    with pytest.raises(ApiError) as bad:
        await client.http.request(talkdesk_calls.ACTIVITY, json={"data": []})
    assert bad.value.status == 400
