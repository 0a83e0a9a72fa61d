"""Conferences over HTTP against the embedded platform: lifecycle, events, long-poll, walls.

Streams are published and viewed with real aiortc offers through the real media router; media
flow itself is the router's tests' business, here it is ids, events and cleanup.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import VideoStreamTrack

from server.embedded import EmbeddedServer
from server.events import RecordingPublisher
from tests.platform_support import LONG_POLL_SECONDS, PlatformUser, login

CONF = "/rtc-api/conferences"


@dataclass
class Member:
    """A user endpoint joined to a conference."""

    user: PlatformUser
    endpoint: str
    conference: str

    @property
    def topic(self) -> str:
        return self.user.topic(self.endpoint)

    def body(self, **fields: Any) -> dict[str, Any]:
        return {"conferenceId": self.conference, "userEndpointId": self.endpoint, **fields}

    async def post(self, action: str, expect: int = 204, **fields: Any) -> Any:
        return await self.user.call(
            "POST", f"{CONF}/{action}", json=self.body(**fields), expect=expect
        )


async def create(user: PlatformUser, **fields: Any) -> str:
    summary = await user.call("POST", f"{CONF}/create", json=fields)
    return str(summary["id"])


async def join(user: PlatformUser, conference: str, **fields: Any) -> Member:
    endpoint = await user.register()
    body = {"conferenceId": conference, "userEndpointId": endpoint, **fields}
    await user.call("POST", f"{CONF}/join", json=body)
    return Member(user, endpoint, conference)


def of_type(recorder: RecordingPublisher, topic: str, event_type: str) -> list[dict[str, Any]]:
    return [e for e in recorder.events_for(topic) if e["type"] == event_type]


async def test_create_answers_a_router_summary_and_checks_its_input(agent: PlatformUser) -> None:
    summary = await agent.call("POST", f"{CONF}/create", json={"conferenceId": "c-1"})
    assert summary == {"id": "c-1", "version": 0, "mode": "ROUTER"}
    body = await agent.call("POST", f"{CONF}/create", json={"conferenceId": "c-1"}, expect=409)
    assert "c-1" in body["message"]
    p2p = await agent.call("POST", f"{CONF}/create", json={"mode": "P2P"})
    assert p2p["mode"] == "ROUTER", "only ROUTER is supported: other modes run as ROUTER"
    body = await agent.call("POST", f"{CONF}/create", json={"mode": "MESH"}, expect=400)
    assert "mode" in body["message"]
    body = await agent.call("POST", f"{CONF}/create", json={"metadata": {"k": 1}}, expect=400)
    assert "metadata.k" in body["message"]


async def test_join_versions_and_the_seeds_join_errors(
    agent: PlatformUser, agent2: PlatformUser, outsider: PlatformUser
) -> None:
    conference = await create(agent, metadata={"topic": "claims"})
    endpoint = await agent.register()
    body = {"conferenceId": conference, "userEndpointId": endpoint, "metadata": {"name": "A"}}
    summary = await agent.call("POST", f"{CONF}/join", json=body)
    assert summary == {"id": conference, "version": 1, "mode": "ROUTER"}
    answer = await agent.call("POST", f"{CONF}/join", json=body, expect=422)
    assert endpoint in answer["message"]
    # Unknown conference, unregistered endpoint, someone else's endpoint, another organization.
    answer = await agent.call(
        "POST", f"{CONF}/join", json={**body, "conferenceId": "nope"}, expect=404
    )
    assert "nope" in answer["message"]
    await agent.call("POST", f"{CONF}/join", json={**body, "userEndpointId": "ghost"}, expect=404)
    await agent2.call("POST", f"{CONF}/join", json=body, expect=403)
    foreign = await outsider.register()
    answer = await outsider.call(
        "POST", f"{CONF}/join", json={**body, "userEndpointId": foreign}, expect=404
    )
    assert conference in answer["message"]
    answer = await agent.call("POST", f"{CONF}/join", json={"conferenceId": conference}, expect=400)
    assert "userEndpointId" in answer["message"]


async def test_views_show_participants_streams_and_metadata(
    agent: PlatformUser, agent2: PlatformUser
) -> None:
    conference = await create(agent, metadata={"topic": "claims"}, interactionId="int-1")
    a = await join(agent, conference, metadata={"name": "A"})
    a2 = await join(agent, conference)
    b = await join(agent2, conference)
    view = await agent.call("GET", f"{CONF}/{conference}/simpleView")
    assert view["version"] == 3
    assert view["metadata"]["topic"]["value"] == "claims"
    users = {p["id"]: [e["id"] for e in p["endpoints"]] for p in view["participants"]}
    assert users == {agent.user_id: [a.endpoint, a2.endpoint], agent2.user_id: [b.endpoint]}
    assert view["participants"][0]["endpoints"][0]["metadata"] == {"name": "A"}
    full = await agent2.call("GET", f"{CONF}/{conference}")
    assert full["organizationId"] == "org1"
    assert full["interactionId"] == "int-1"
    assert full["creator"] == agent.user_id
    assert [p["id"] for p in full["participants"]] == [a.endpoint, a2.endpoint, b.endpoint]
    assert full["participants"][2]["userId"] == agent2.user_id
    assert full["empty"] is False
    await b.post("interaction", interactionId="int-2")
    assert (await agent.call("GET", f"{CONF}/{conference}"))["interactionId"] == "int-2"


async def test_every_change_is_one_event_in_version_order_to_every_member(
    agent: PlatformUser, agent2: PlatformUser, recorder: RecordingPublisher, server: EmbeddedServer
) -> None:
    conference = await create(agent)
    a = await join(agent, conference)
    b = await join(agent2, conference)
    await a.post("updateMetadata", operation="SET", key="TRACK_MUTED/audio/s1", value="true")
    await b.post("updateParticipantMetadata", newMetadata={"name": "B"})
    await a.post("updateMetadata", operation="REMOVE", key="TRACK_MUTED/audio/s1")
    await a.post("updateMetadata", operation="REMOVE", key="never-set")  # no change, no event
    await b.post("leave", reason="bye")
    await server.platform.events.drain()

    seen_by_a = recorder.events_for(a.topic)
    assert [(e["type"], e["conferenceVersion"]) for e in seen_by_a] == [
        ("ConferenceJoinedEvent", 0),
        ("ConferenceJoinedEvent", 1),
        ("ConferenceMetadataUpdatedEvent", 2),
        ("ConferenceParticipantMetadataUpdatedEvent", 3),
        ("ConferenceMetadataUpdatedEvent", 4),
        ("ConferenceLeftEvent", 5),
    ]
    joined_b, set_meta, participant_meta, removed, left = seen_by_a[1:]
    assert (joined_b["userId"], joined_b["userEndpointId"]) == (agent2.user_id, b.endpoint)
    assert (set_meta["key"], set_meta["operation"], set_meta["value"]) == (
        "TRACK_MUTED/audio/s1",
        "SET",
        "true",
    )
    assert "value" not in removed and removed["operation"] == "REMOVE"
    assert participant_meta["newMetadata"] == {"name": "B"}
    assert (left["userEndpointId"], left["reason"]) == (b.endpoint, "bye")
    for event in seen_by_a:
        assert event["conferenceId"] == conference
        assert event["id"] and event["timestamp"].endswith("Z")
    # B got everything from its own join up to and including its own leave, and no more.
    assert [e["id"] for e in recorder.events_for(b.topic)] == [e["id"] for e in seen_by_a[1:]]
    view = await agent.call("GET", f"{CONF}/{conference}/simpleView")
    assert view["version"] == 6
    assert view["metadata"] == {}


async def test_events_long_poll_returns_what_was_missed_and_waits_for_more(
    agent: PlatformUser, agent2: PlatformUser
) -> None:
    conference = await create(agent)
    a = await join(agent, conference)
    await join(agent2, conference)
    events = await agent.call("GET", f"{CONF}/{conference}/events?v=0")
    assert [e["conferenceVersion"] for e in events] == [0, 1]
    assert [e["type"] for e in events] == ["ConferenceJoinedEvent"] * 2
    assert await agent.call("GET", f"{CONF}/{conference}/events?v=1") == events[1:]

    # Nothing new: the poll blocks for the configured time, then answers an empty list.
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await agent.call("GET", f"{CONF}/{conference}/events?v=2") == []
    assert loop.time() - started >= LONG_POLL_SECONDS * 0.9

    # Something new while it waits: the poll answers with it.
    poll = asyncio.create_task(agent.call("GET", f"{CONF}/{conference}/events?v=2"))
    await asyncio.sleep(0.2)
    assert not poll.done()
    await a.post("updateMetadata", operation="SET", key="RECORDER", value='{"on":true}')
    woken = await asyncio.wait_for(poll, 5)
    assert [(e["type"], e["conferenceVersion"]) for e in woken] == [
        ("ConferenceMetadataUpdatedEvent", 2)
    ]


@pytest.mark.parametrize("query", ["", "?v=", "?v=abc", "?v=-1"])
async def test_events_long_poll_needs_a_version(agent: PlatformUser, query: str) -> None:
    conference = await create(agent)
    body = await agent.call("GET", f"{CONF}/{conference}/events{query}", expect=400)
    assert "'v'" in body["message"] or body["message"].startswith("v:")


async def test_organizations_are_walls(
    agent: PlatformUser, outsider: PlatformUser, service: PlatformUser
) -> None:
    conference = await create(agent)
    await join(agent, conference)
    for path in (conference, f"{conference}/simpleView", f"{conference}/events?v=0"):
        body = await outsider.call("GET", f"{CONF}/{path}", expect=404)
        assert conference in body["message"]
    assert await outsider.call("GET", f"{CONF}/active") == []
    assert [c["id"] for c in await agent.call("GET", f"{CONF}/active")] == [conference]
    # A SERVICE caller names the organization it acts for.
    org1 = await service.call("GET", f"{CONF}/active?organizationId=org1")
    assert [c["id"] for c in org1] == [conference]
    assert await service.call("GET", f"{CONF}/active?organizationId=org2") == []


async def test_not_joined_is_409_and_unknown_things_are_404(
    agent: PlatformUser, agent2: PlatformUser
) -> None:
    conference = await create(agent)
    member = await join(agent, conference)
    stranger = Member(agent2, await agent2.register(), conference)
    body = await stranger.post("leave", expect=409)
    assert stranger.endpoint in body["message"]
    await stranger.post("updateMetadata", expect=409, operation="SET", key="k", value="v")
    body = await member.post("unpublishStream", expect=404, streamId="no-stream")
    assert "no-stream" in body["message"]
    body = await member.post("stopViewStream", expect=404, streamId="s", viewerId="no-viewer")
    assert "no-viewer" in body["message"]
    await member.post("updateStreamMetadata", expect=404, streamId="no-stream", newMetadata={})
    body = await member.post("updateMetadata", expect=400, operation="SET", key="k")
    assert "value" in body["message"]
    body = await member.post("updateMetadata", expect=400, operation="TOGGLE", key="k", value="v")
    assert "operation" in body["message"]


async def test_send_event_is_for_services_and_reaches_every_member(
    agent: PlatformUser,
    agent2: PlatformUser,
    service: PlatformUser,
    recorder: RecordingPublisher,
    server: EmbeddedServer,
) -> None:
    conference = await create(agent)
    a = await join(agent, conference)
    b = await join(agent2, conference)
    event = {"type": "QueueUpdatedEvent", "timestamp": "2024-05-01T10:00:00Z", "position": 3}
    body = {"conferenceId": conference, "qos": "AT_LEAST_ONCE", "event": event}
    await agent.call("POST", f"{CONF}/sendEvent", json=body, expect=403)
    assert await service.call("POST", f"{CONF}/sendEvent", json=body) == {"eventsSent": 2}
    await server.platform.events.drain()
    for member in (a, b):
        sent_by = {"userId": service.user_id, "organizationId": "org1"}
        assert recorder.events_for(member.topic)[-1] == {**event, "sentBy": sent_by}
    answer = await service.call(
        "POST", f"{CONF}/sendEvent", json={**body, "event": {"type": "x"}}, expect=400
    )
    assert "event" in answer["message"]


async def test_end_tells_everyone_and_closes_the_conference(
    agent: PlatformUser, agent2: PlatformUser, recorder: RecordingPublisher
) -> None:
    conference = await create(agent)
    a = await join(agent, conference)
    b = await join(agent2, conference)
    await a.post("end", reason="done")
    ended = await recorder.wait_for(
        lambda t, e: t == b.topic and e["type"] == "ConferenceEndedEvent"
    )
    assert (ended["reason"], ended["conferenceVersion"]) == ("done", 2)
    await agent.call("GET", f"{CONF}/{conference}", expect=404)
    await b.post("leave", expect=404)
    assert await agent.call("GET", f"{CONF}/active") == []
    # A client that missed the end still reads it from the long-poll.
    events = await agent2.call("GET", f"{CONF}/{conference}/events?v=2")
    assert [e["type"] for e in events] == ["ConferenceEndedEvent"]


async def test_an_empty_conference_expires(recorder: RecordingPublisher) -> None:
    async with (
        EmbeddedServer(
            ["agent1:agent1-secret:AGENT:org1"],
            publisher=recorder,
            empty_conference_ttl=0.5,
            housekeeping_interval=0.05,
        ) as srv,
        aiohttp.ClientSession(srv.base_url) as http,
    ):
        agent = await login(http, "agent1")
        idle = await create(agent)
        busy = await create(agent)
        await join(agent, busy)
        await asyncio.sleep(1.5)
        assert [c["id"] for c in await agent.call("GET", f"{CONF}/active")] == [busy]
        await agent.call("GET", f"{CONF}/{idle}", expect=404)


# --- streams, through the real media router -------------------------------------------------


async def offer(direction: str) -> tuple[RTCPeerConnection, str]:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    if direction == "sendonly":
        pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
    else:
        pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


async def test_publish_view_and_leave_clean_up_the_router(
    agent: PlatformUser, agent2: PlatformUser, recorder: RecordingPublisher, server: EmbeddedServer
) -> None:
    router = server.platform.router
    assert router is not None
    conference = await create(agent)
    a = await join(agent, conference)
    b = await join(agent2, conference)
    peers: list[RTCPeerConnection] = []
    try:
        pc, sdp = await offer("sendonly")
        peers.append(pc)
        published = await a.post(
            "publishStream",
            expect=200,
            streamId="cam-a",
            conferenceStreamType="CAM",
            sdpOffer=sdp,
            metadata={"label": "front"},
        )
        assert published["streamId"] == "cam-a"
        await pc.setRemoteDescription(RTCSessionDescription(published["sdpAnswer"], "answer"))
        event = await recorder.wait_for(
            lambda t, e: t == b.topic and e["type"] == "ConferenceStreamPublishedEvent"
        )
        assert (event["streamId"], event["streamType"], event["userEndpointId"]) == (
            "cam-a",
            "CAM",
            a.endpoint,
        )
        await a.post(
            "addPublishStreamIceCandidates",
            streamId="cam-a",
            iceCandidates=[{"candidate": "", "sdpMid": "0", "sdpMLineIndex": 0}],
        )
        await a.post(
            "publishStream", expect=409, streamId="cam-a", conferenceStreamType="CAM", sdpOffer=sdp
        )
        await a.post("publishStream", expect=400, conferenceStreamType="CAM", sdpOffer="not sdp")
        await b.post("unpublishStream", expect=403, streamId="cam-a")

        viewer_pc, view_sdp = await offer("recvonly")
        peers.append(viewer_pc)
        viewed = await b.post(
            "viewStream", expect=200, streamId="cam-a", sdpOffer=view_sdp, viewerId="b-views-a"
        )
        assert viewed["viewerId"] == "b-views-a"
        await viewer_pc.setRemoteDescription(RTCSessionDescription(viewed["sdpAnswer"], "answer"))
        await b.post(
            "addViewStreamIceCandidates",
            streamId="cam-a",
            viewerId="b-views-a",
            iceCandidates=[{"candidate": ""}],
        )
        await a.post("stopViewStream", expect=403, streamId="cam-a", viewerId="b-views-a")
        await a.post("updatePublishedStreamBitrate", streamId="cam-a", videoBitrate=300_000)
        await a.post("updateStreamMetadata", streamId="cam-a", newMetadata={"label": "back"})
        assert router.peer_connection_count() == 2

        view = await agent2.call("GET", f"{CONF}/{conference}")
        streams = view["participants"][0]["streams"]
        assert streams == [
            {"id": "cam-a", "type": "CAM", "metadata": {"label": "back"}, "videoBitrate": 300_000}
        ]

        # Leaving unpublishes A's stream (an event for B) and closes publisher and viewer.
        await a.post("leave")
        await recorder.wait_for(
            lambda t, e: t == b.topic and e["type"] == "ConferenceStreamUnpublishedEvent"
        )
        await b.post("stopViewStream", expect=404, streamId="cam-a", viewerId="b-views-a")
        assert router.peer_connection_count() == 0
        types = [e["type"] for e in recorder.events_for(b.topic)]
        assert types[-4:] == [
            "ConferenceStreamPublishedEvent",
            "ConferenceStreamMetadataUpdatedEvent",
            "ConferenceStreamUnpublishedEvent",
            "ConferenceLeftEvent",
        ]
    finally:
        for pc in peers:
            await pc.close()


async def test_stream_and_viewer_ids_are_per_organization(
    agent: PlatformUser, outsider: PlatformUser, server: EmbeddedServer
) -> None:
    """Two organizations may publish and view under the same ids (was 409 for the second):
    neither takes an id first nor learns that the other holds it, and each keeps its own."""
    router = server.platform.router
    assert router is not None
    peers: list[RTCPeerConnection] = []
    members = []
    try:
        for user in (agent, outsider):
            member = await join(user, await create(user, conferenceId="same-room"))
            members.append(member)
            pc, sdp = await offer("sendonly")
            peers.append(pc)
            published = await member.post(
                "publishStream",
                expect=200,
                streamId="cam",
                conferenceStreamType="CAM",
                sdpOffer=sdp,
            )
            assert published["streamId"] == "cam"
            viewer_pc, view_sdp = await offer("recvonly")
            peers.append(viewer_pc)
            viewed = await member.post(
                "viewStream", expect=200, streamId="cam", sdpOffer=view_sdp, viewerId="me-on-cam"
            )
            assert viewed["viewerId"] == "me-on-cam"
        assert router.peer_connection_count() == 4
        ours, theirs = members
        await ours.post("stopViewStream", streamId="cam", viewerId="me-on-cam")
        await ours.post("unpublishStream", streamId="cam")
        assert router.peer_connection_count() == 2  # the other organization's are untouched
        await theirs.post("updatePublishedStreamBitrate", streamId="cam", videoBitrate=200_000)
        await theirs.post("stopViewStream", streamId="cam", viewerId="me-on-cam")
        await theirs.post("unpublishStream", streamId="cam")
        assert router.peer_connection_count() == 0
    finally:
        for pc in peers:
            await pc.close()
