"""`/composition/api` end to end on the embedded platform: the real queue, the real render child
process, the real signed downloads. The recordings are files written here with PyAV (the
recorder is another module's); the service reads them through `use_source`, the same
interface the recorder feeds.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web

from agent.api.auth import ClientCredentials
from agent.api.client import AuviousClient
from agent.api.errors import ApiError
from agent.api.models.composition import (
    CompositionState,
    CreateCompositionWebCommand,
    ReExecuteCompositionWebCommand,
)
from media.composition_check import TileSpan, check_media, check_sync, check_tiles
from server.composition.recordings import RECORDINGS_KEY, Recording
from server.composition.routes import COMPOSITIONS_KEY
from server.composition.service import Compositions
from server.embedded import EmbeddedServer
from tests.composition_support import FileRecordings, Publisher, make_recording
from tests.platform_support import CLIENTS, PlatformUser, customer_login

STARTED = 1_700_000_000.0
BASE = "/composition/api"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Recording]:
    """Recordings of org1, written once for the module: two publishers (b late) over 4 s;
    audio only; and a long one (20 s of video, a few frames a second) that takes a while to
    render."""
    directory = tmp_path_factory.mktemp("recordings")
    two = make_recording(
        directory, "two", "org1", [Publisher("agent1"), Publisher("agent2", start=1.5)],
        seconds=4.0, started=STARTED, size=(160, 120),
    )  # fmt: skip
    voice = make_recording(
        directory, "voice", "org1", [Publisher("agent1", video=False)],
        seconds=2.0, started=STARTED,
    )  # fmt: skip
    long = make_recording(
        directory, "long", "org1", [Publisher("agent1", audio=False)],
        seconds=20.0, started=STARTED, size=(160, 120), fps=3,
    )  # fmt: skip
    return {"two": two, "voice": voice, "long": long}


@pytest.fixture
def source(server: EmbeddedServer) -> FileRecordings:
    recordings = FileRecordings()
    server.app[COMPOSITIONS_KEY].use_source(recordings)
    return recordings


def service_of(server: EmbeddedServer) -> Compositions:
    return server.app[COMPOSITIONS_KEY]


def as_conversation(recording: Recording, conversation_id: str, **changes: object) -> Recording:
    return dataclasses.replace(recording, conversation_id=conversation_id, **changes)  # type: ignore[arg-type]


def command(
    conversation_id: str, kind: str = "VIDEO", **fields: object
) -> CreateCompositionWebCommand:
    return CreateCompositionWebCommand.model_validate(
        {"conversationId": conversation_id, "type": kind, "layout": "GRID", "name": "n",
         "resolution": "320x240", **fields}
    )  # fmt: skip


@pytest.fixture
async def api(server: EmbeddedServer) -> AsyncIterator[AuviousClient]:
    credentials = ClientCredentials("agent1", CLIENTS["agent1"][1])
    async with AuviousClient(server.base_url, credentials, backoff=0.01) as client:
        yield client


async def _state_of(client: AuviousClient, conversation: str, composition: str) -> str:
    return str((await client.compositions.get(conversation, composition)).state)


async def _until(client: AuviousClient, conversation: str, composition: str, state: str) -> None:
    async with asyncio.timeout(30):
        while await _state_of(client, conversation, composition) != state:  # noqa: ASYNC110 (HTTP)
            await asyncio.sleep(0.02)


@pytest.mark.slow
async def test_video_and_audio_compositions_render_and_download_without_a_token(
    server: EmbeddedServer,
    source: FileRecordings,
    recorded: dict[str, Recording],
    api: AuviousClient,
    agent: PlatformUser,
    tmp_path: Path,
) -> None:
    source.add(as_conversation(recorded["two"], "conv-1"))
    # As the vendor's scripts send it: lower case, priority as a string.
    made = await agent.call(
        "POST", f"{BASE}/request",
        json={"conversationId": "conv-1", "type": "video", "layout": "grid", "name": "call",
              "resolution": "320x240", "priority": "2", "audioFormat": "mp3"},
    )  # fmt: skip
    assert set(made) == {"conversationId", "id"}
    audio = await api.compositions.request(command("conv-1", "AUDIO"))
    video_view = await api.compositions.wait_done("conv-1", made["id"], time_limit=60, poll=0.1)
    audio_view = await api.compositions.wait_done("conv-1", audio.id, time_limit=60, poll=0.1)
    assert video_view.state == CompositionState.COMPLETED, video_view
    assert (video_view.type, video_view.format, video_view.user_id) == (
        "VIDEO",
        "MP4",
        agent.user_id,
    )
    assert audio_view.state == CompositionState.COMPLETED and audio_view.format == "MP3"
    assert video_view.duration_seconds == pytest.approx(4.0, abs=0.01)

    listed = await api.compositions.conversation("conv-1")
    assert [v.id for v in listed.compositions or []] == [audio.id, made["id"]]  # newest first
    metadata = listed.recording_metadata
    assert metadata is not None
    assert (metadata.can_export_video, metadata.total_participants, metadata.duration) == (
        True, 2, "PT4S",
    )  # fmt: skip
    page = await api.compositions.mine(page=0, size=1)
    assert (page.total_elements, page.total_pages, page.number_of_elements) == (2, 2, 1)
    assert page.content and page.content[0].id == audio.id

    # Signed URLs, downloaded by a client that sends no token at all.
    attachment = await api.compositions.url("conv-1", made["id"])
    inline = await api.compositions.url("conv-1", made["id"], inline=True)
    assert attachment.url and inline.url and "/player/attachment/conv-1/" in attachment.url
    query = parse_qs(urlsplit(attachment.url).query)
    assert set(query) == {"Date", "Expires", "Signature"}
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(attachment.url) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "video/mp4"
            assert response.headers["Content-Disposition"].startswith("attachment;")
            assert "conv-1.mp4" in response.headers["Content-Disposition"]
            whole = await response.read()
        async with anonymous.get(inline.url, headers={"Range": "bytes=0-99"}) as response:
            assert response.status == 206
            assert response.headers["Content-Range"].startswith("bytes 0-99/")
            assert response.headers["Content-Disposition"].startswith("inline")
            assert await response.read() == whole[:100]
    composed = tmp_path / "conv-1.mp4"
    composed.write_bytes(whole)
    assert check_media(composed, kind="VIDEO", size=(320, 240), duration=4.0) == []
    spans = [TileSpan(0, 4.0, "agent1"), TileSpan(1.5, 4.0, "agent2")]
    assert check_tiles(composed, spans, STARTED * 1000) == []
    assert check_sync(composed, spans, STARTED * 1000) == []

    mp3_url = (await api.compositions.url("conv-1", audio.id)).url
    assert mp3_url is not None
    mp3 = tmp_path / "conv-1.mp3"
    mp3.write_bytes((await api.compositions.download(mp3_url)).body)
    assert check_media(mp3, kind="AUDIO", duration=4.0) == []


@pytest.mark.slow
async def test_a_higher_priority_runs_first_and_cancel_works_while_queued_or_waiting(
    server: EmbeddedServer, source: FileRecordings, recorded: dict[str, Recording],
    api: AuviousClient,
) -> None:  # fmt: skip
    # The one worker is held by a composition whose recording is still going on.
    source.add(as_conversation(recorded["voice"], "busy", finished=False, stopped=None))
    source.add(as_conversation(recorded["voice"], "conv-2"))
    busy = await api.compositions.request(command("busy", "AUDIO"))
    await _until(api, "busy", busy.id, "PREPROCESSING")
    low = await api.compositions.request(command("conv-2", "AUDIO", priority=0))
    high = await api.compositions.request(command("conv-2", "AUDIO", priority=2))
    dropped = await api.compositions.request(command("conv-2", "AUDIO", priority=5))
    await api.compositions.cancel("conv-2", dropped.id)
    assert await _state_of(api, "conv-2", dropped.id) == "CANCELLED"
    await api.compositions.cancel("conv-2", dropped.id)  # again: nothing to do, 200
    assert {await _state_of(api, "conv-2", c.id) for c in (low, high)} == {"QUEUED"}

    source.recordings["busy"] = [as_conversation(recorded["voice"], "busy")]  # it finished
    views = [
        await api.compositions.wait_done("conv-2", c.id, time_limit=60, poll=0.1)
        for c in (low, high)
    ]
    assert [v.state for v in views] == ["COMPLETED", "COMPLETED"]
    assert views[1].completed < views[0].completed  # type: ignore[operator]
    assert await _state_of(api, "conv-2", dropped.id) == "CANCELLED"
    with pytest.raises(ApiError) as finished:
        await api.compositions.cancel("conv-2", low.id)
    assert finished.value.status == 409

    # Cancel while it waits for a recording (PREPROCESSING), then re-execute it.
    source.add(as_conversation(recorded["voice"], "waits", finished=False, stopped=None))
    waiting = await api.compositions.request(command("waits", "AUDIO"))
    await _until(api, "waits", waiting.id, "PREPROCESSING")
    await api.compositions.cancel("waits", waiting.id)
    assert await _state_of(api, "waits", waiting.id) == "CANCELLED"
    source.recordings["waits"] = [as_conversation(recorded["voice"], "waits")]
    again = await api.compositions.reexecute(
        ReExecuteCompositionWebCommand(conversation_id="waits", id=waiting.id)
    )
    assert again.id == waiting.id
    done = await api.compositions.wait_done("waits", waiting.id, time_limit=60, poll=0.1)
    assert done.state == CompositionState.COMPLETED


async def test_cancel_while_rendering_kills_the_child_and_leaves_no_file(
    server: EmbeddedServer, source: FileRecordings, recorded: dict[str, Recording],
    api: AuviousClient,
) -> None:  # fmt: skip
    source.add(as_conversation(recorded["long"], "long"))
    made = await api.compositions.request(command("long", resolution="1280x720"))
    service = service_of(server)
    async with asyncio.timeout(30):
        while service.child_pid(made.id) is None:  # noqa: ASYNC110 (a subprocess to appear)
            await asyncio.sleep(0.01)
    pid = service.child_pid(made.id)
    assert pid is not None and await _state_of(api, "long", made.id) == "PROCESSING"
    await api.compositions.cancel("long", made.id)
    assert await _state_of(api, "long", made.id) == "CANCELLED"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the child is gone (and reaped)
    files = server.config.data_dir / "files" / "compositions"
    assert list(files.iterdir()) == []
    with pytest.raises(ApiError) as no_media:
        await api.compositions.url("long", made.id)
    assert no_media.value.status == 404


async def test_delete_is_for_supervisors_and_takes_the_file_and_its_urls(
    server: EmbeddedServer, source: FileRecordings, recorded: dict[str, Recording],
    api: AuviousClient, agent2: PlatformUser,
) -> None:  # fmt: skip
    source.add(as_conversation(recorded["voice"], "conv-3"))
    made = await api.compositions.request(command("conv-3", "AUDIO"))
    await api.compositions.wait_done("conv-3", made.id, time_limit=60, poll=0.1)
    url = (await api.compositions.url("conv-3", made.id)).url
    assert url is not None
    path = f"{BASE}/conv-3/{made.id}/delete"
    body = await agent2.call("DELETE", path, expect=403)  # an AGENT, not a SUPERVISOR
    assert "SUPERVISOR" in body["message"]
    await api.compositions.delete("conv-3", made.id)
    listed = await api.compositions.conversation("conv-3")
    assert listed.compositions == []
    async with aiohttp.ClientSession() as anonymous, anonymous.get(url) as response:
        assert response.status == 404
    with pytest.raises(ApiError) as gone:
        await api.compositions.delete("conv-3", made.id)
    assert gone.value.status == 404


async def test_roles_walls_and_bad_requests(
    server: EmbeddedServer, source: FileRecordings, recorded: dict[str, Recording],
    http: aiohttp.ClientSession, agent: PlatformUser, service: PlatformUser,
    outsider: PlatformUser,
) -> None:  # fmt: skip
    source.add(as_conversation(recorded["voice"], "conv-4"))
    body = command("conv-4", "AUDIO").to_wire()
    # SERVICE may create, and nothing else.
    made = await service.call("POST", f"{BASE}/request", json=body)
    one = f"{BASE}/conv-4/{made['id']}"
    for method, path in (
        ("POST", f"{one}/cancel"),
        ("GET", f"{BASE}/query/conversation/conv-4"),
        ("GET", f"{BASE}/query/composition"),
    ):
        await service.call(method, path, expect=403)
    headers = {**service.headers, "Referer": "https://app.example/"}
    async with http.get(f"{BASE}/player/conv-4/{made['id']}/url/inline", headers=headers) as r:
        assert r.status == 403
    # Another organization's conversation does not exist for it.
    for method, path, json in (
        ("POST", f"{BASE}/request", body),
        ("GET", f"{BASE}/query/conversation/conv-4", None),
        ("POST", f"{one}/cancel", None),
    ):
        answer = await outsider.call(method, path, json=json, expect=404)
        assert "conv-4" in answer["message"] or made["id"] in answer["message"]
    # A customer has none of the roles.
    ticket = await agent.call(
        "POST", "/security/ticket",
        json={"type": "MULTI_USE_TICKET", "ttl": 600, "length": 16,
              "properties": {"applicationId": "a", "customer_id": "c1"}},
    )  # fmt: skip
    customer = await customer_login(http, ticket["id"])
    await customer.call("POST", f"{BASE}/request", json=body, expect=403)
    await customer.call("GET", f"{BASE}/query/conversation/conv-4", expect=403)
    # No token; and the swagger's bare `Authorization: <token>` is a token too.
    async with http.get(f"{BASE}/query/conversation/conv-4") as response:
        assert response.status == 401
    headers = {"Authorization": agent.access_token}
    async with http.get(f"{BASE}/query/conversation/conv-4", headers=headers) as response:
        assert response.status == 200
    # Bad input names the field.
    for field, value in (
        ("conversationId", "attachment"),
        ("conversationId", "a/b"),
        ("resolution", "320x241"),
        ("type", "GIF"),
        ("priority", "soon"),
    ):
        answer = await agent.call(
            "POST", f"{BASE}/request", json={**body, field: value}, expect=400
        )
        assert field in answer["message"], answer
    answer = await agent.call(
        "POST", f"{BASE}/request", json={**body, "type": "VIDEO"}, expect=409
    )  # an audio-only recording has no video to compose: well formed, so not a 400
    assert "no recorded video" in answer["message"]
    await agent.call("GET", f"{BASE}/player/conv-4/{made['id']}/url/attachment", expect=400)


async def test_player_urls_refuse_a_wrong_or_missing_signature(
    server: EmbeddedServer, source: FileRecordings, recorded: dict[str, Recording],
    api: AuviousClient, http: aiohttp.ClientSession,
) -> None:  # fmt: skip
    source.add(as_conversation(recorded["voice"], "conv-5"))
    made = await api.compositions.request(command("conv-5", "AUDIO"))
    await api.compositions.wait_done("conv-5", made.id, time_limit=60, poll=0.1)
    url = (await api.compositions.url("conv-5", made.id)).url
    assert url is not None
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    cases = {
        403: [
            (parts.path, {**query, "Signature": "x" + query["Signature"][1:]}),
            (parts.path, {**query, "Expires": str(int(query["Expires"]) + 60)}),
            (parts.path.replace("/attachment/", "/inline/"), query),
        ],
        400: [(parts.path, {k: v for k, v in query.items() if k != "Date"})],
    }
    for status, requests in cases.items():
        for path, params in requests:
            async with http.get(path, params=params) as response:
                assert response.status == status, (path, params)
                assert (await response.json())["message"]
    async with http.get(parts.path, params=query) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "audio/mpeg"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_unfinished_compositions_are_queued_again_after_a_restart(
    recorded: dict[str, Recording], tmp_path: Path
) -> None:
    """A platform stopped with one composition waiting for its recording (PREPROCESSING) and
    one QUEUED behind it renders both when it starts again."""
    clients = [spec for spec, _ in CLIENTS.values()]
    going_on = FileRecordings()
    going_on.add(as_conversation(recorded["voice"], "busy", finished=False, stopped=None))
    going_on.add(as_conversation(recorded["voice"], "after"))
    credentials = ClientCredentials("agent1", CLIENTS["agent1"][1])

    def use(source: FileRecordings) -> Callable[[web.Application], None]:
        def prepare(app: web.Application) -> None:
            app[RECORDINGS_KEY] = source

        return prepare

    data = tmp_path / "data"
    async with (
        EmbeddedServer(clients, data_dir=data, prepare=use(going_on)) as server,
        AuviousClient(server.base_url, credentials, backoff=0.01) as api,
    ):
        busy = await api.compositions.request(command("busy", "AUDIO"))
        await _until(api, "busy", busy.id, "PREPROCESSING")
        queued = await api.compositions.request(command("after", "AUDIO"))
        assert await _state_of(api, "after", queued.id) == "QUEUED"

    finished = FileRecordings()
    finished.add(as_conversation(recorded["voice"], "busy"))
    finished.add(as_conversation(recorded["voice"], "after"))
    async with (
        EmbeddedServer(clients, data_dir=data, prepare=use(finished)) as server,
        AuviousClient(server.base_url, credentials, backoff=0.01) as api,
    ):
        for conversation, made in (("busy", busy), ("after", queued)):
            view = await api.compositions.wait_done(conversation, made.id, time_limit=60, poll=0.1)
            assert view.state == CompositionState.COMPLETED, view
            url = (await api.compositions.url(conversation, made.id)).url
            assert url is not None and (await api.compositions.download(url)).body
