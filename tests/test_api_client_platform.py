"""The API client against the real local platform (``server.embedded.EmbeddedServer``):
tokens, tickets, registrations and conferences, including bad input, 401 and another
organization's conference. Nothing is mocked: real HTTP on loopback, the real server."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack

from agent.api.auth import ClientCredentials, StaticToken, TicketLogin, Token
from agent.api.client import AuviousClient
from agent.api.endpoints import conferences as conference_calls
from agent.api.errors import ApiError
from agent.api.models.auth import TicketProperties, TicketRequest, TicketType
from agent.api.models.conferences import (
    ConferenceMode,
    ConferencePublishStreamIceCandidatesWebCommand,
    ConferencePublishStreamWebCommand,
    ConferenceStopViewStreamWebCommand,
    ConferenceStreamType,
    ConferenceUnpublishStreamWebCommand,
    ConferenceUpdatePublishedStreamBitrateWebCommand,
    ConferenceViewStreamIceCandidatesWebCommand,
    ConferenceViewStreamWebCommand,
    CreateConferenceWebCommand,
    EndConferenceWebCommand,
    EventQos,
    IceCandidate,
    JoinConferenceWebCommand,
    LeaveConferenceWebCommand,
    MetadataOperation,
    SendEventToConferenceWebCommand,
    SetInteractionIdWebCommand,
    UpdateConferenceMetadataWebCommand,
    UpdateConferenceParticipantMetadataWebCommand,
    UpdateConferenceStreamMetadataWebCommand,
)
from agent.api.models.events import (
    ConferenceEndedEvent,
    ConferenceEvent,
    ConferenceJoinedEvent,
    ConferenceLeftEvent,
    ConferenceMetadataUpdatedEvent,
)
from agent.api.models.registrations import (
    KeepUserEndpointAliveWebCommand,
    RegisterUserEndpointWebCommand,
    SendEventToUserWebCommand,
    UnregisterUserEndpointWebCommand,
)
from server.embedded import EmbeddedServer
from tests.api_client_support import (
    AGENT1,
    AGENT2,
    SERVICE1,
    ClientFactory,
    connect,
    register,
    server,
)

__all__ = ["connect", "server"]  # fixtures, imported for pytest


async def test_client_credentials_claims(connect: ClientFactory) -> None:
    client = await connect()
    claims = await client.claims()
    assert claims.sub
    assert claims.organization == "org1"
    assert client.auth is not None and client.auth.token is not None
    assert client.auth.token.refresh_at is not None


async def test_wrong_secret_is_a_clear_401(connect: ClientFactory) -> None:
    client = await connect(("agent1", "not-the-secret"))
    with pytest.raises(ApiError) as caught:
        await register(client)
    error = caught.value
    assert error.operation == "requestToken"
    assert error.status == 401
    assert error.message
    assert "not-the-secret" not in str(error)


async def test_garbage_token_is_refused_with_401(
    connect: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    garbage = "not-a-real-token-" + uuid.uuid4().hex
    client = await connect(auth=StaticToken(garbage))
    with pytest.raises(ApiError) as caught:
        await register(client)
    assert caught.value.status == 401
    assert caught.value.call == "registerUserEndpoint (POST /rtc-api/users/endpoints)"
    assert garbage not in str(caught.value) + repr(caught.value) + caplog.text


async def test_ticket_login_carries_the_conference(connect: ClientFactory) -> None:
    agent = await connect()
    conference = await agent.conferences.create(
        CreateConferenceWebCommand(mode=ConferenceMode.ROUTER)
    )
    assert conference.id
    ticket = await agent.security.create_ticket(
        TicketRequest(
            type=TicketType.MULTI_USE_TICKET,
            ttl=600,
            properties=TicketProperties(conference_id=conference.id),
        )
    )
    assert ticket.id and ticket.id not in repr(ticket)
    customer = await connect(auth=TicketLogin(ticket.id))
    claims = await customer.claims()
    assert claims.conference_id == conference.id
    assert claims.organization == "org1"
    endpoint = await register(customer)
    summary = await customer.conferences.join(
        JoinConferenceWebCommand(conference_id=conference.id, user_endpoint_id=endpoint)
    )
    assert summary.id == conference.id


async def test_short_lived_tokens_are_renewed_and_listeners_told() -> None:
    async with EmbeddedServer(
        clients=[f"{AGENT1[0]}:{AGENT1[1]}:AGENT:org1"], access_token_ttl=2
    ) as srv:
        renewed = asyncio.Event()
        tokens: list[Token] = []
        auth = ClientCredentials(*AGENT1)

        def on_token(token: Token) -> None:
            tokens.append(token)
            if len(tokens) >= 2:
                renewed.set()

        auth.add_listener(on_token)
        async with AuviousClient(srv.base_url, auth) as client:
            endpoint = await register(client)
            await asyncio.wait_for(renewed.wait(), timeout=10)
            assert tokens[1].access_token != tokens[0].access_token
            assert tokens[1].claims.sub == tokens[0].claims.sub
            await client.registrations.keepalive(
                KeepUserEndpointAliveWebCommand(user_endpoint_id=endpoint)
            )


async def test_registration_lifecycle(connect: ClientFactory) -> None:
    client = await connect()
    plain = await register(client)
    assert isinstance(plain, str) and plain
    ios = await client.registrations.register_ios(
        RegisterUserEndpointWebCommand(keep_alive_seconds=30, server_keep_alive_reminder_on=True)
    )
    assert ios.id and ios.id != plain
    chosen = "endpoint-" + uuid.uuid4().hex
    assert (
        await client.registrations.register(
            RegisterUserEndpointWebCommand(user_endpoint_id=chosen, keep_alive_seconds=30)
        )
        == chosen
    )
    await client.registrations.keepalive(KeepUserEndpointAliveWebCommand(user_endpoint_id=plain))
    await client.registrations.unregister(
        UnregisterUserEndpointWebCommand(user_endpoint_id=plain, reason="test over")
    )
    with pytest.raises(ApiError) as caught:
        await client.registrations.keepalive(
            KeepUserEndpointAliveWebCommand(user_endpoint_id=plain)
        )
    assert caught.value.status == 404
    assert plain in caught.value.message


async def test_send_event_to_user(connect: ClientFactory) -> None:
    agent = await connect()
    service = await connect(SERVICE1)
    await register(agent)
    claims = await agent.claims()
    assert claims.sub is not None
    sent = await service.registrations.send_event(
        SendEventToUserWebCommand(
            user_id=claims.sub,
            organization_id="org1",
            event={"type": "SomethingHappenedEvent", "timestamp": "2024-01-01T00:00:00Z"},
        )
    )
    assert sent == 1


async def test_bad_input_gets_400_naming_the_field(connect: ClientFactory) -> None:
    client = await connect()
    # Straight through the transport: the models would not let this body be built.
    with pytest.raises(ApiError) as caught:
        await client.http.request(conference_calls.JOIN, json={"conferenceId": "x"})
    assert caught.value.status == 400
    assert "userEndpointId" in caught.value.message
    assert str(caught.value).startswith(
        "joinConference (POST /rtc-api/conferences/join) failed: HTTP 400: "
    )


async def test_unknown_conference_is_404(connect: ClientFactory) -> None:
    client = await connect()
    with pytest.raises(ApiError) as caught:
        await client.conferences.simple_view("no-such-conference")
    assert caught.value.status == 404
    assert "no-such-conference" in caught.value.message
    assert caught.value.path == "/rtc-api/conferences/{id}/simpleView"


async def test_conference_lifecycle_and_events(connect: ClientFactory) -> None:
    alice = await connect()
    bob = await connect()
    alice_endpoint = await register(alice)
    bob_endpoint = await register(bob)

    created = await alice.conferences.create(
        CreateConferenceWebCommand(mode=ConferenceMode.ROUTER, metadata={"topic": "tests"})
    )
    assert created.id and created.mode == ConferenceMode.ROUTER
    conference_id = created.id
    start_version = created.version or 0

    joined = await alice.conferences.join(
        JoinConferenceWebCommand(
            conference_id=conference_id, user_endpoint_id=alice_endpoint, metadata={"n": "a"}
        )
    )
    assert joined.id == conference_id
    await bob.conferences.join(
        JoinConferenceWebCommand(conference_id=conference_id, user_endpoint_id=bob_endpoint)
    )
    with pytest.raises(ApiError) as twice:
        await bob.conferences.join(
            JoinConferenceWebCommand(conference_id=conference_id, user_endpoint_id=bob_endpoint)
        )
    assert twice.value.status == 422

    view = await alice.conferences.simple_view(conference_id)
    endpoint_ids = {e.id for p in view.participants or [] for e in p.endpoints or []}
    assert endpoint_ids == {alice_endpoint, bob_endpoint}

    await alice.conferences.update_metadata(
        UpdateConferenceMetadataWebCommand(
            conference_id=conference_id,
            user_endpoint_id=alice_endpoint,
            operation=MetadataOperation.SET,
            key="RECORDER",
            value='{"on":true}',
        )
    )
    await bob.conferences.update_participant_metadata(
        UpdateConferenceParticipantMetadataWebCommand(
            conference_id=conference_id, user_endpoint_id=bob_endpoint, new_metadata={"x": 1}
        )
    )
    await alice.conferences.set_interaction(
        SetInteractionIdWebCommand(
            conference_id=conference_id, interaction_id="interaction-1", user_endpoint_id=None
        )
    )

    full = await alice.conferences.get(conference_id)
    assert full.id == conference_id
    assert full.interaction_id == "interaction-1"
    assert full.metadata is not None and full.metadata["RECORDER"].value == '{"on":true}'
    assert conference_id in {c.id for c in await alice.conferences.active()}

    events = await alice.conferences.events(conference_id, start_version)
    kinds = [type(e) for e in events]
    assert kinds.count(ConferenceJoinedEvent) == 2
    assert ConferenceMetadataUpdatedEvent in kinds
    versions = [e.conference_version for e in events if isinstance(e, ConferenceEvent)]
    assert len(versions) == len(events)
    assert all(v is not None for v in versions)
    assert versions == sorted(v for v in versions if v is not None)

    await bob.conferences.leave(
        LeaveConferenceWebCommand(
            conference_id=conference_id, user_endpoint_id=bob_endpoint, reason="bye"
        )
    )
    latest = max(v for v in versions if v is not None)
    after = await alice.conferences.events(conference_id, latest + 1)
    assert any(isinstance(e, ConferenceLeftEvent) for e in after)

    await alice.conferences.end(
        EndConferenceWebCommand(
            conference_id=conference_id, user_endpoint_id=alice_endpoint, reason="done"
        )
    )
    ended = await alice.conferences.events(conference_id, latest + 1)
    assert any(isinstance(e, ConferenceEndedEvent) for e in ended)
    assert conference_id not in {c.id for c in await alice.conferences.active()}


async def test_events_long_poll_waits_and_returns_empty(connect: ClientFactory) -> None:
    client = await connect()
    endpoint = await register(client)
    created = await client.conferences.create(CreateConferenceWebCommand())
    assert created.id
    joined = await client.conferences.join(
        JoinConferenceWebCommand(conference_id=created.id, user_endpoint_id=endpoint)
    )
    assert joined.version is not None
    quiet = await client.conferences.events(created.id, joined.version + 100)
    assert quiet == []


async def test_another_organization_cannot_see_the_conference(connect: ClientFactory) -> None:
    owner = await connect()
    stranger = await connect(AGENT2)
    stranger_endpoint = await register(stranger)
    created = await owner.conferences.create(CreateConferenceWebCommand())
    assert created.id
    for attempt in (
        stranger.conferences.get(created.id),
        stranger.conferences.simple_view(created.id),
        stranger.conferences.join(
            JoinConferenceWebCommand(conference_id=created.id, user_endpoint_id=stranger_endpoint)
        ),
    ):
        with pytest.raises(ApiError) as caught:
            await attempt
        assert caught.value.status in (403, 404)
    assert created.id not in {c.id for c in await stranger.conferences.active()}


async def test_send_event_to_conference_needs_service_role(connect: ClientFactory) -> None:
    agent = await connect()
    service = await connect(SERVICE1)
    endpoint = await register(agent)
    created = await agent.conferences.create(CreateConferenceWebCommand())
    assert created.id
    await agent.conferences.join(
        JoinConferenceWebCommand(conference_id=created.id, user_endpoint_id=endpoint)
    )
    command = SendEventToConferenceWebCommand(
        conference_id=created.id,
        qos=EventQos.AT_LEAST_ONCE,
        event={"type": "PingSentEvent", "timestamp": "2024-01-01T00:00:00Z"},
    )
    with pytest.raises(ApiError) as caught:
        await agent.conferences.send_event(command)
    assert caught.value.status == 403
    sent = await service.conferences.send_event(command)
    assert sent.events_sent == 1


async def test_malformed_sdp_offer_is_refused_once(connect: ClientFactory) -> None:
    """publishStream is not idempotent: a refusal is reported as is, never retried."""
    client = await connect()
    endpoint = await register(client)
    created = await client.conferences.create(CreateConferenceWebCommand())
    assert created.id
    await client.conferences.join(
        JoinConferenceWebCommand(conference_id=created.id, user_endpoint_id=endpoint)
    )
    with pytest.raises(ApiError) as caught:
        await client.conferences.publish_stream(
            ConferencePublishStreamWebCommand(
                conference_id=created.id,
                user_endpoint_id=endpoint,
                conference_stream_type=ConferenceStreamType.MIC,
                sdp_offer="v=0\r\n",
            )
        )
    assert caught.value.status == 400
    assert caught.value.attempts == 1
    assert "m-line" in caught.value.message


def _candidates(sdp: str) -> list[IceCandidate]:
    """aiortc gathers before it answers setLocalDescription: its candidates are in the SDP."""
    found: list[IceCandidate] = []
    mid: str | None = None
    index = -1
    for line in sdp.splitlines():
        if line.startswith("m="):
            index += 1
        elif line.startswith("a=mid:"):
            mid = line[6:]
        elif line.startswith("a=candidate:"):
            found.append(IceCandidate(candidate=line[2:], sdp_mid=mid, sdp_m_line_index=index))
    return found


async def test_publish_view_and_trickle_with_real_peer_connections(
    connect: ClientFactory,
) -> None:
    """Signalling of one stream with aiortc offers: the answers must be usable SDP."""
    alice = await connect()
    bob = await connect()
    alice_endpoint = await register(alice)
    bob_endpoint = await register(bob)
    created = await alice.conferences.create(CreateConferenceWebCommand(mode=ConferenceMode.ROUTER))
    conference_id = created.id
    assert conference_id
    for client, endpoint in ((alice, alice_endpoint), (bob, bob_endpoint)):
        await client.conferences.join(
            JoinConferenceWebCommand(conference_id=conference_id, user_endpoint_id=endpoint)
        )

    no_ice = RTCConfiguration(iceServers=[])
    publisher = RTCPeerConnection(no_ice)
    viewer = RTCPeerConnection(no_ice)
    try:
        publisher.addTransceiver(VideoStreamTrack(), direction="sendonly")
        await publisher.setLocalDescription(await publisher.createOffer())
        stream_id = "stream-" + uuid.uuid4().hex
        published = await alice.conferences.publish_stream(
            ConferencePublishStreamWebCommand(
                conference_id=conference_id,
                user_endpoint_id=alice_endpoint,
                stream_id=stream_id,
                conference_stream_type=ConferenceStreamType.CAM,
                sdp_offer=publisher.localDescription.sdp,
                metadata={"label": "camera"},
            )
        )
        assert published.stream_id == stream_id and published.sdp_answer
        await publisher.setRemoteDescription(
            RTCSessionDescription(sdp=published.sdp_answer, type="answer")
        )
        await alice.conferences.add_publish_stream_ice_candidates(
            ConferencePublishStreamIceCandidatesWebCommand(
                conference_id=conference_id,
                user_endpoint_id=alice_endpoint,
                stream_id=stream_id,
                ice_candidates=_candidates(publisher.localDescription.sdp),
            )
        )
        await alice.conferences.update_stream_metadata(
            UpdateConferenceStreamMetadataWebCommand(
                conference_id=conference_id,
                user_endpoint_id=alice_endpoint,
                stream_id=stream_id,
                new_metadata={"label": "renamed"},
            )
        )
        await alice.conferences.update_published_stream_bitrate(
            ConferenceUpdatePublishedStreamBitrateWebCommand(
                conference_id=conference_id,
                user_endpoint_id=alice_endpoint,
                stream_id=stream_id,
                video_bitrate=300_000,
            )
        )

        viewer.addTransceiver("video", direction="recvonly")
        await viewer.setLocalDescription(await viewer.createOffer())
        viewed = await bob.conferences.view_stream(
            ConferenceViewStreamWebCommand(
                conference_id=conference_id,
                user_endpoint_id=bob_endpoint,
                stream_id=stream_id,
                sdp_offer=viewer.localDescription.sdp,
                viewer_id="viewer-1",
            )
        )
        assert viewed.viewer_id == "viewer-1" and viewed.sdp_answer
        await viewer.setRemoteDescription(
            RTCSessionDescription(sdp=viewed.sdp_answer, type="answer")
        )
        await bob.conferences.add_view_stream_ice_candidates(
            ConferenceViewStreamIceCandidatesWebCommand(
                conference_id=conference_id,
                user_endpoint_id=bob_endpoint,
                stream_id=stream_id,
                viewer_id="viewer-1",
                ice_candidates=_candidates(viewer.localDescription.sdp),
            )
        )
        view = await bob.conferences.simple_view(conference_id)
        streams = {
            s.id: s
            for p in view.participants or []
            for e in p.endpoints or []
            for s in e.streams or []
        }
        assert streams[stream_id].type == ConferenceStreamType.CAM
        assert streams[stream_id].metadata == {"label": "renamed"}

        await bob.conferences.stop_view_stream(
            ConferenceStopViewStreamWebCommand(
                conference_id=conference_id,
                user_endpoint_id=bob_endpoint,
                stream_id=stream_id,
                viewer_id="viewer-1",
            )
        )
        await alice.conferences.unpublish_stream(
            ConferenceUnpublishStreamWebCommand(
                conference_id=conference_id, user_endpoint_id=alice_endpoint, stream_id=stream_id
            )
        )
        with pytest.raises(ApiError) as gone:
            await bob.conferences.stop_view_stream(
                ConferenceStopViewStreamWebCommand(
                    conference_id=conference_id,
                    user_endpoint_id=bob_endpoint,
                    stream_id=stream_id,
                    viewer_id="viewer-1",
                )
            )
        assert gone.value.status == 404
    finally:
        await publisher.close()
        await viewer.close()
