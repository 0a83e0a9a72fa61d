"""The API client against the embedded platform: ICE servers (both versions) and
the Talkdesk calls, with the bad-input and
other-organization cases. Real HTTP on loopback, the real server."""

from __future__ import annotations

from agent.api.models.talkdesk import (
    Meta,
    RequestData,
    TalkdeskContactActivityRequest,
    TalkdeskCreateTalkdeskRequest,
)
from tests.api_client_support import (
    ClientFactory,
    connect,
    server,
)

__all__ = ["connect", "server"]  # fixtures, imported for pytest


async def test_ice_servers_both_versions(connect: ClientFactory) -> None:
    client = await connect()
    v2 = await client.ice.servers_v2()
    assert v2.ttl is not None and v2.ttl > 0
    v1 = await client.ice.servers()
    assert v1.ice_servers is not None
    assert v1.ttl is not None
    if v2.turn_password:
        assert v2.turn_password not in repr(v2)


async def test_talkdesk_calls(connect: ClientFactory) -> None:
    client = await connect()
    created = await client.talkdesk.create(
        TalkdeskCreateTalkdeskRequest(data=RequestData(contact_id="contact-1"))
    )
    assert created.contact_external_id or created.message
    validated = await client.talkdesk.validate_authorization({"token": "x", "n": 1})
    assert isinstance(validated, dict)
    activity = await client.talkdesk.activity(
        TalkdeskContactActivityRequest(
            meta=Meta(interaction_types=["video"]), data=RequestData(contact_id="contact-1")
        ),
        host="tenant.example",
    )
    assert isinstance(activity, list)
