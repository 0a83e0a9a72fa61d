"""The Recorder API as a plain HTTP client calls it (seed 004): roles and organization walls,
ids that must fit a path, the state machine, chat transcripts, cobrowse sessions behind signed
URLs, and the storage probes. No media flows here (a conference with nobody publishing records
no streams); `test_recorder_media.py` records real calls."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from agent.api.models.composition import parse_duration
from agent.api.models.recorder import RecorderState, RecordingDataEvent
from server.embedded import EmbeddedServer
from tests.platform_support import CLIENTS, PlatformUser, customer_login, login
from tests.recorder_support import BASE, start_recording, triple_path, wait_state


async def _conference(user: PlatformUser) -> str:
    conference = await user.call("POST", "/rtc-api/conferences/create", json={})
    return str(conference["id"])


async def _started(user: PlatformUser, conversation: str = "conv-1") -> dict[str, Any]:
    event = await start_recording(user, await _conference(user), conversation)
    await wait_state(user, event, "ACTIVE")
    return event


def test_enums_read_in_any_case_and_written_upper_case() -> None:
    event = RecordingDataEvent.model_validate({"state": "active", "recorderId": "r"})
    assert event.state is RecorderState.ACTIVE
    assert event.to_wire()["state"] == "ACTIVE"
    newer = RecordingDataEvent.model_validate({"state": "Archived"})
    assert newer.state == "ARCHIVED"  # unknown values are kept, not refused


async def test_start_state_stop_and_the_reads_of_a_conversation(agent: PlatformUser) -> None:
    conference = await _conference(agent)
    event = await start_recording(agent, conference, "conv-7", audio="true")
    assert event["state"] == "INITIALISED" and event["conversationId"] == "conv-7"
    again = await start_recording(agent, conference, "conv-7")  # the same one, not a second
    assert again["recorderId"] == event["recorderId"]
    await wait_state(agent, event, "ACTIVE")
    active = await agent.call("GET", f"{BASE}/recordings/conv-7/active")
    assert active["recorderId"] == event["recorderId"]
    info = await agent.call("GET", f"{triple_path(event)}/storage/info")
    assert info["applicationId"] == "app-1" and "provider" not in info

    await agent.call("POST", f"{triple_path(event)}/stop")
    await agent.call("POST", f"{triple_path(event)}/stop")  # stopping again changes nothing
    await agent.call("GET", f"{BASE}/recordings/conv-7/active", expect=404)
    message = await agent.call("GET", triple_path(event))
    assert message["state"] == "STOPPED" and message["streams"] == []
    assert message["started"].endswith("Z") and message["stopped"] >= message["started"]

    second = await start_recording(agent, conference, "conv-7")
    assert second["recorderId"] != event["recorderId"]
    await agent.call("POST", f"{triple_path(second)}/stop")
    conversation = await agent.call("GET", f"{BASE}/recordings/conv-7")
    recorders = [r["recorderId"] for r in conversation["recordings"]]
    assert recorders == [event["recorderId"], second["recorderId"]]
    assert parse_duration(conversation["duration"]) >= 0
    latest = await agent.call("GET", f"{BASE}/compositions/conv-7")
    assert latest["recorderId"] == second["recorderId"]


async def test_the_end_of_the_conference_stops_the_recorder(agent: PlatformUser) -> None:
    endpoint = await agent.register()
    conference = await agent.call(
        "POST", "/rtc-api/conferences/create", json={"creatorEndpoint": endpoint}
    )
    event = await start_recording(agent, conference["id"])
    await wait_state(agent, event, "ACTIVE")
    end = {"conferenceId": conference["id"], "userEndpointId": endpoint, "reason": "done"}
    await agent.call("POST", "/rtc-api/conferences/end", json=end, expect=204)
    await wait_state(agent, event, "STOPPED")


async def test_another_organizations_namesake_conference_is_not_recorded(
    agent: PlatformUser, outsider: PlatformUser
) -> None:
    """Conference ids are per organization: the end of another organization's conference of
    the same id neither stops our recorder nor is answered by it."""
    endpoint = await agent.register()
    theirs = await outsider.register()
    create = "/rtc-api/conferences/create"
    await agent.call("POST", create, json={"conferenceId": "rec-1", "creatorEndpoint": endpoint})
    await outsider.call("POST", create, json={"conferenceId": "rec-1", "creatorEndpoint": theirs})
    ours = await start_recording(agent, "rec-1", "conv-same")
    await wait_state(agent, ours, "ACTIVE")
    other = await start_recording(outsider, "rec-1", "conv-same")  # was our recorder
    assert other["recorderId"] != ours["recorderId"]
    await wait_state(outsider, other, "ACTIVE")
    end = {"conferenceId": "rec-1", "userEndpointId": theirs, "reason": "done"}
    await outsider.call("POST", "/rtc-api/conferences/end", json=end, expect=204)
    await wait_state(outsider, other, "STOPPED")
    await asyncio.sleep(0.2)  # the end's event has reached every recorder by now
    assert (await agent.call("GET", f"{triple_path(ours)}/state"))["state"] == "ACTIVE"


async def test_roles_and_organization_walls(
    server: EmbeddedServer,
    agent: PlatformUser,
    agent2: PlatformUser,
    outsider: PlatformUser,
    service: PlatformUser,
    http: aiohttp.ClientSession,
) -> None:
    event = await _started(agent)
    path = triple_path(event)
    # Another organization sees nothing: 404, as if it did not exist.
    await outsider.call("GET", path, expect=404)
    await outsider.call("GET", f"{BASE}/recordings/conv-1", expect=404)
    await outsider.call("POST", f"{path}/stop", expect=404)
    conference = await _conference(agent)
    body = {"applicationId": "a", "conferenceId": conference, "conversationId": "c"}
    await outsider.call("POST", f"{BASE}/recordings/start", json=body, expect=404)
    # SERVICE reads across organizations; a plain AGENT may record but not check storage.
    assert (await service.call("GET", f"{path}/state"))["state"] == "ACTIVE"
    await agent2.call("GET", f"{path}/state")
    await agent2.call("POST", f"{BASE}/storageproviders/app-1/verify", expect=403)
    # Customers get 403 everywhere.
    ticket = await agent.call(
        "POST", "/security/ticket", json={"type": "MULTI_USE_TICKET", "ttl": 600}
    )
    customer = await customer_login(http, ticket["id"])
    await customer.call("GET", f"{path}/state", expect=403)
    await customer.call("POST", f"{BASE}/recordings/start", json=body, expect=403)
    # No token: 401; the seeds' apiKey form (the bare token) is accepted.
    async with http.get(f"{path}/state") as response:
        assert response.status == 401
    headers = {"Authorization": agent.access_token}
    async with http.get(f"{path}/state", headers=headers) as response:
        assert response.status == 200


async def test_another_organizations_recorder_answers_as_a_missing_one(
    agent: PlatformUser, outsider: PlatformUser
) -> None:
    """Its 404 once named the triple ("recorder R instance I of conversation C not found")
    where a made-up recorder id got "recorder R not found": the message told them apart."""
    event = await _started(agent)
    made_up = {**event, "recorderId": str(uuid.uuid4())}
    chat = [{"timeStamp": "2026-01-01T00:00:00Z", "transcript": "hi", "userId": "u"}]

    async def answers(target: dict[str, Any]) -> list[str]:
        path = triple_path(target)
        triple = {k: target[k] for k in ("conversationId", "recorderId", "instanceId")}
        bodies = [
            await outsider.call("GET", path, expect=404),
            await outsider.call("GET", f"{path}/state", expect=404),
            await outsider.call("GET", f"{path}/storage/info", expect=404),
            await outsider.call("POST", f"{path}/stop", expect=404),
            await outsider.call(
                "POST",
                f"{BASE}/recordings/chat/transcript/add",
                json={**triple, "chatTranscriptList": chat},
                expect=404,
            ),
        ]
        return [str(b["message"]).replace(target["recorderId"], "ID") for b in bodies]

    assert await answers(event) == await answers(made_up)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("conversationId", "attachment"),
        ("conversationId", "../../etc"),
        ("conversationId", "a b"),
        ("conversationId", ""),
        ("applicationId", "x" * 129),
    ],
)
async def test_ids_that_cannot_be_a_path_segment_are_refused(
    agent: PlatformUser, field: str, value: str
) -> None:
    body = {
        "applicationId": "app",
        "conferenceId": await _conference(agent),
        "conversationId": "conv",
        field: value,
    }
    refused = await agent.call("POST", f"{BASE}/recordings/start", json=body, expect=400)
    assert field in refused["message"]


async def test_a_mismatched_triple_is_404(agent: PlatformUser) -> None:
    event = await _started(agent)
    for wrong in ("conversationId", "instanceId"):
        await agent.call("GET", triple_path({**event, wrong: "other"}), expect=404)


async def test_chat_lines_merge_into_one_transcript_sorted_and_deduplicated(
    server: EmbeddedServer, agent: PlatformUser
) -> None:
    event = await _started(agent)
    ids = {k: event[k] for k in ("conversationId", "recorderId", "instanceId")}
    later = {"timeStamp": "2026-01-01T10:00:05Z", "transcript": "bye", "userId": "u2"}
    earlier = {
        "timeStamp": "2026-01-01T10:00:01Z",
        "transcript": "hello",
        "userId": "u1",
        "userDisplayName": "Alice",
    }
    add = f"{BASE}/recordings/chat/transcript/add"
    await agent.call("POST", add, json={**ids, "chatTranscriptList": [later, earlier]})
    await agent.call("POST", add, json={**ids, "chatTranscriptList": [earlier]})  # a re-send
    message = await agent.call("GET", triple_path(event))
    chat = message["chatTranscript"]
    assert chat["location"] == f"org1/conv-1/chat/{chat['id']}.json"
    conversation = await agent.call("GET", f"{BASE}/recordings/conv-1")
    assert conversation["chatTranscript"] == chat
    (stored,) = (Path(server.config.data_dir) / "files" / "transcripts").iterdir()
    lines = json.loads(stored.read_text())["chatTranscriptList"]
    assert [line["transcript"] for line in lines] == ["hello", "bye"]
    bad = {**ids, "chatTranscriptList": [{"transcript": "no time", "userId": "u"}]}
    refused = await agent.call("POST", add, json=bad, expect=400)
    assert "timeStamp" in refused["message"]


async def test_cobrowse_events_are_kept_in_order_behind_a_signed_url(
    agent: PlatformUser, http: aiohttp.ClientSession
) -> None:
    event = await _started(agent)
    ids = {k: event[k] for k in ("conversationId", "recorderId", "instanceId")}
    post = f"{BASE}/recordings/cobrowse/event"
    for sequence in (3, 1, 2, 1):  # out of order, and 1 again (a retry)
        cobrowse = {
            "payload": f"dom-{sequence}",
            "sequenceId": str(sequence),  # numeric strings are integers
            "sessionId": "s-1",
            "timestamp": 1700000000000 + sequence,
        }
        await agent.call("POST", post, json={**ids, "event": cobrowse})
    sessions = await agent.call("GET", f"{BASE}/recordings/conv-1/cobrowse")
    (session,) = sessions["cobrowseSessions"]
    assert session["cobrowseSessionId"] == "s-1"
    assert session["recorderId"] == event["recorderId"]

    url_path = f"{triple_path(event)}/cobrowse/s-1/url/attachment"
    await agent.call("GET", url_path, expect=400)  # no Referer
    headers = {**agent.headers, "Referer": "http://example.test/"}
    async with http.get(url_path, headers=headers) as response:
        assert response.status == 200
        url = (await response.json())["url"]
    async with http.get(f"{url_path}?id=other", headers=headers) as response:
        assert response.status == 404  # a query copy naming another id names nothing there
    async with aiohttp.ClientSession() as anonymous, anonymous.get(url) as response:
        assert response.status == 200  # no token: the signature is the credential
        assert "attachment" in response.headers["Content-Disposition"]
        events = json.loads(await response.read())
    assert [e["payload"] for e in events] == ["dom-1", "dom-2", "dom-3"]
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(url, headers={"Range": "bytes=0-9"}) as response:
            assert response.status == 206 and len(await response.read()) == 10
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        tampered = url.replace(query["Signature"][0], "A" * 43)
        async with anonymous.get(tampered) as response:
            assert response.status == 403
        async with anonymous.get(url.replace("s-1.json", "s-2.json")) as response:
            assert response.status == 403  # the path is signed too
        async with anonymous.get(f"{parts.scheme}://{parts.netloc}{parts.path}") as response:
            assert response.status == 400
        expired = url.replace(f"Expires={query['Expires'][0]}", f"Expires={query['Date'][0]}")
        async with anonymous.get(expired) as response:
            assert response.status == 403

    await agent.call("POST", f"{triple_path(event)}/stop")
    cobrowse = {"payload": "late", "sequenceId": 9, "sessionId": "s-1", "timestamp": 1}
    refused = await agent.call("POST", post, json={**ids, "event": cobrowse}, expect=409)
    assert "STOPPED" in refused["message"]


async def test_storage_verification_probes_the_real_store(
    server: EmbeddedServer, agent: PlatformUser
) -> None:
    result = await agent.call("POST", f"{BASE}/storageproviders/app-1/verify")
    names = ("bucket", "write", "read", "modify", "delete")
    assert all(result[f"{n}TestResult"]["passed"] for n in names), result
    store = Path(server.config.data_dir) / "files" / "recordings"
    assert not [p for p in store.iterdir() if p.name.startswith(".verify")]
    store.rmdir()  # the store is gone: the probes must say so, not pretend
    try:
        result = await agent.call("POST", f"{BASE}/storageproviders/app-1/verify")
    finally:
        store.mkdir()
    assert not result["bucketTestResult"]["passed"]
    assert "not a directory" in result["bucketTestResult"]["message"]
    assert not result["deleteTestResult"]["passed"]


async def test_the_maximum_length_stops_a_recording(tmp_path: Path) -> None:
    async with (
        EmbeddedServer(
            [spec for spec, _ in CLIENTS.values()], data_dir=tmp_path, max_recording_seconds=0.5
        ) as server,
        aiohttp.ClientSession(server.base_url) as http,
    ):
        agent = await login(http, "agent1")
        event = await start_recording(agent, await _conference(agent))
        await wait_state(agent, event, "STOPPED", within=5)


async def test_a_shutdown_aborts_and_the_record_survives_the_restart(tmp_path: Path) -> None:
    specs = [spec for spec, _ in CLIENTS.values()]
    async with (
        EmbeddedServer(specs, data_dir=tmp_path) as server,
        aiohttp.ClientSession(server.base_url) as http,
    ):
        agent = await login(http, "agent1")
        event = await _started(agent)
    async with (
        EmbeddedServer(specs, data_dir=tmp_path) as server,
        aiohttp.ClientSession(server.base_url) as http,
    ):
        agent = await login(http, "agent1")
        state = await agent.call("GET", f"{triple_path(event)}/state")
        assert state["state"] == "ABORTED" and state["error"]["code"] == "SHUTDOWN"
        assert "recovered" not in await agent.call("GET", triple_path(event))
    await asyncio.sleep(0)
