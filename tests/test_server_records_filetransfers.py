"""File transfers against the embedded platform with plain aiohttp: multipart upload, the
FileTransferEvent to every endpoint of the target user, retries by X-Auvious-TransactionId,
listing and its filters, signed downloads, bad input, organization walls and a restart."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.embedded import EmbeddedServer
from server.events import RecordingPublisher
from server.storage import STORAGE_KEY
from server.storage.access import ABANDONED_AFTER_MS, REMEMBERED_FOR_MS
from tests.platform_support import CLIENTS, PlatformUser, login
from tests.records_support import fetch_signed, form, post_form, raw_file_form, tamper

BASE = "/rtc-api/filetransfers"
DOC = b"%PDF-1.4 a small document\n"


def _fields(target: PlatformUser, **extra: str) -> dict[str, str]:
    return {"applicationId": "app1", "targetId": target.user_id, **extra}


async def _send(
    sender: PlatformUser,
    fields: dict[str, str],
    *,
    data: bytes = DOC,
    filename: str = "contract.pdf",
    content_type: str = "application/pdf",
    transaction_id: str | None = None,
    expect: int = 200,
    query: str = "?targetType=user",
) -> Any:
    headers = {"X-Auvious-TransactionId": transaction_id} if transaction_id else None
    body = form(fields, file=(data, filename, content_type))
    return await post_form(sender, BASE + query, body, expect=expect, headers=headers)


def _file_transfer_to(topic: str) -> Callable[[str, dict[str, Any]], bool]:
    return lambda t, e: t == topic and e["type"] == "FileTransferEvent"


async def test_transfer_reaches_every_endpoint_of_the_target_once_per_transaction(
    agent: PlatformUser, agent2: PlatformUser, recorder: RecordingPublisher
) -> None:
    sender_ep = await agent.register()
    phone, laptop = await agent2.register(), await agent2.register()
    fields = _fields(agent2, userEndpointId=sender_ep, interactionId="int-9", conferenceId="c-9")

    first = await _send(agent, fields, transaction_id="tx-1")
    transfer_id = first["fileTransferId"]
    for endpoint in (phone, laptop):
        event = await recorder.wait_for(_file_transfer_to(agent2.topic(endpoint)))
        assert event["fileTransferId"] == transfer_id
        assert event["userId"] == agent.user_id and event["userEndpointId"] == sender_ep
        assert event["filename"] == "contract.pdf" and event["size"] == len(DOC)
        assert event["contentType"] == "application/pdf" and event["targetType"] == "user"
        assert event["interactionId"] == "int-9" and event["conferenceId"] == "c-9"

    # A retry (same transaction id) is the same transfer: no second record, no second event.
    assert await _send(agent, fields, transaction_id="tx-1") == first
    other = await _send(agent, fields, transaction_id="tx-2")
    assert other["fileTransferId"] != transfer_id
    await recorder.wait_for(
        lambda t, e: e.get("fileTransferId") == other["fileTransferId"] and t == agent2.topic(phone)
    )
    events = [
        e for e in recorder.events_for(agent2.topic(phone)) if e["type"] == "FileTransferEvent"
    ]
    assert [e["fileTransferId"] for e in events] == [transfer_id, other["fileTransferId"]]
    listed = await agent.call("GET", BASE)
    assert sorted(t["id"] for t in listed) == sorted([transfer_id, other["fileTransferId"]])


async def test_listing_filters_and_who_sees_what(
    agent: PlatformUser, agent2: PlatformUser, service: PlatformUser
) -> None:
    a = (await _send(agent, _fields(agent2, interactionId="i1")))["fileTransferId"]
    b = (await _send(agent2, _fields(agent, conferenceId="c1")))["fileTransferId"]
    c = (await _send(agent2, _fields(service, interactionId="i1")))["fileTransferId"]

    def ids(items: list[dict[str, Any]]) -> set[str]:
        return {t["id"] for t in items}

    assert ids(await agent.call("GET", BASE)) == {a, b}  # sent or received by the caller
    assert ids(await agent2.call("GET", BASE)) == {a, b, c}
    assert ids(await agent.call("GET", f"{BASE}?all=true")) == {a, b, c}
    assert ids(await agent.call("GET", f"{BASE}?interactionId=i1")) == {a}
    assert ids(await agent2.call("GET", f"{BASE}?interactionId=i1&all=true")) == {a, c}
    assert ids(await agent2.call("GET", f"{BASE}?conferenceId=c1")) == {b}
    listed = await agent.call("GET", f"{BASE}?conferenceId=c1")
    assert listed[0]["userId"] == agent2.user_id and listed[0]["targetId"] == agent.user_id
    assert listed[0]["organizationId"] == "org1" and listed[0]["createdAt"].endswith("Z")

    body = await agent.call("GET", f"{BASE}?interactionId=i1&conferenceId=c1", expect=400)
    assert "mutually exclusive" in body["message"]
    body = await agent.call("GET", f"{BASE}?all=perhaps", expect=400)
    assert body["message"].startswith("all:")


async def test_signed_download_is_an_attachment_under_a_clean_name(
    agent: PlatformUser, agent2: PlatformUser, server: EmbeddedServer
) -> None:
    page = b"<html><script>alert(document.cookie)</script></html>"
    # A control character in a part header is a malformed body: 400, not a server error.
    body, content_type = raw_file_form(_fields(agent2), "file", page, "evil\x01.html", "text/html")
    headers = {**agent.headers, "Content-Type": content_type}
    async with agent.http.post(f"{BASE}?targetType=user", data=body, headers=headers) as response:
        assert response.status == 400
        assert "malformed multipart body" in (await response.json())["message"]

    body, content_type = raw_file_form(
        _fields(agent2), "file", page, "..\\../evil\t.html", "text/html"
    )
    async with agent.http.post(
        f"{BASE}?targetType=user",
        data=body,
        headers={**agent.headers, "Content-Type": content_type},
    ) as response:
        assert response.status == 200, await response.text()
        transfer_id = (await response.json())["fileTransferId"]
    signed = await agent2.call("POST", f"{BASE}/{transfer_id}/signedUrl")
    assert signed["validUntil"].endswith("Z")
    data, response = await fetch_signed(signed["url"])
    assert data == page
    assert response.headers["Content-Disposition"] == "attachment; filename*=UTF-8''evil.html"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # The stored file has a generated name: nothing of the client's name reaches the disk.
    stored = list((server.config.data_dir / "files" / "filetransfers").iterdir())
    assert len(stored) == 1 and "evil" not in stored[0].name

    await fetch_signed(tamper(signed["url"], expiration_delta=1000), expect=403)
    await fetch_signed(tamper(signed["url"], signature="x" * 43), expect=403)
    await fetch_signed(signed["url"].split("?")[0], expect=400)  # no signature: a malformed request
    await agent.call("POST", f"{BASE}/no-such-id/signedUrl", expect=404)


async def test_bad_uploads_get_400_naming_the_problem(
    agent: PlatformUser, agent2: PlatformUser
) -> None:
    ok = _fields(agent2)
    body = await _send(agent, ok, query="", expect=400)
    assert "targetType" in body["message"]
    body = await _send(agent, ok, query="?targetType=group", expect=400)
    assert body["message"].startswith("targetType:")
    body = await _send(agent, {"targetId": agent2.user_id}, expect=400)
    assert "applicationId" in body["message"]
    body = await _send(agent, {"applicationId": "app1"}, expect=400)
    assert "targetId" in body["message"]
    body = await post_form(agent, f"{BASE}?targetType=user", form(ok), expect=400)
    assert body["message"] == "file: a file part is required"
    body = await _send(agent, ok, data=b"", expect=400)
    assert body["message"] == "file: the file is empty"
    body = await agent.call("POST", f"{BASE}?targetType=user", json=ok, expect=400)
    assert "multipart/form-data" in body["message"]
    # The linked endpoint must be the sender's own.
    their_ep = await agent2.register()
    await _send(agent, _fields(agent2, userEndpointId=their_ep), expect=403)
    await _send(agent, _fields(agent2, userEndpointId="ghost"), expect=404)
    body = await _send(agent, ok, transaction_id="x" * 300, expect=400)
    assert "X-Auvious-TransactionId" in body["message"]
    assert await agent.call("GET", f"{BASE}?all=true") == []  # none of these was stored


async def test_other_organizations_see_nothing(
    agent: PlatformUser, agent2: PlatformUser, outsider: PlatformUser
) -> None:
    transfer_id = (await _send(agent, _fields(agent2)))["fileTransferId"]
    assert await outsider.call("GET", f"{BASE}?all=true") == []
    body = await outsider.call("POST", f"{BASE}/{transfer_id}/signedUrl", expect=404)
    assert transfer_id in body["message"]
    # Sending to a user id of another organization reaches nobody there.
    outsider_ep = await outsider.register()
    await _send(agent, {"applicationId": "a", "targetId": outsider.user_id})
    assert await outsider.call("GET", BASE) == []
    assert outsider_ep  # registered, yet no transfer of org1 is visible to it


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", BASE), ("POST", f"{BASE}?targetType=user"), ("POST", f"{BASE}/x/signedUrl")],
)
async def test_calls_without_a_token_get_401(
    http: aiohttp.ClientSession, method: str, path: str
) -> None:
    async with http.request(method, path) as response:
        assert response.status == 401


async def test_transfers_survive_a_restart(tmp_path: Path) -> None:
    clients = [spec for spec, _ in CLIENTS.values()]
    async with (
        EmbeddedServer(clients, data_dir=tmp_path) as first,
        aiohttp.ClientSession(first.base_url) as http,
    ):
        agent, agent2 = await login(http, "agent1"), await login(http, "agent2")
        transfer_id = (await _send(agent, _fields(agent2), transaction_id="tx"))["fileTransferId"]
    async with (
        EmbeddedServer(clients, data_dir=tmp_path) as second,
        aiohttp.ClientSession(second.base_url) as http,
    ):
        agent, agent2 = await login(http, "agent1"), await login(http, "agent2")
        assert [t["id"] for t in await agent2.call("GET", BASE)] == [transfer_id]
        signed = await agent2.call("POST", f"{BASE}/{transfer_id}/signedUrl")
        assert (await fetch_signed(signed["url"]))[0] == DOC
        # The transaction id is remembered too: a late retry does not send the file again.
        again = await _send(agent, _fields(agent2), transaction_id="tx")
        assert again["fileTransferId"] == transfer_id


async def test_a_claim_left_by_a_stopped_server_is_taken_over(
    agent: PlatformUser, agent2: PlatformUser, server: EmbeddedServer
) -> None:
    records = server.app[STORAGE_KEY].records
    now = int(time.time() * 1000)
    for transaction_id, age in (("tx-fresh", 1_000), ("tx-abandoned", ABANDONED_AFTER_MS + 1)):
        # What a request that was cut off mid-way leaves behind: a claim without a result.
        key = f"filetransfer\norg1\n{agent.user_id}\n{transaction_id}"
        records.insert("transaction", key, "org1", now - age, {})
    body = await _send(agent, _fields(agent2), transaction_id="tx-fresh", expect=409)
    assert "still being processed" in body["message"]
    taken = await _send(agent, _fields(agent2), transaction_id="tx-abandoned")
    assert await _send(agent, _fields(agent2), transaction_id="tx-abandoned") == taken
    assert [t["id"] for t in await agent.call("GET", BASE)] == [taken["fileTransferId"]]


async def test_transaction_ids_are_forgotten_after_a_day(
    agent: PlatformUser, agent2: PlatformUser, server: EmbeddedServer
) -> None:
    """A platform that runs for weeks keeps a retry's result for a day, not forever."""
    records = server.app[STORAGE_KEY].records
    now = int(time.time() * 1000)
    old = f"filetransfer\norg1\n{agent.user_id}\ntx-last-month"
    recent = f"filetransfer\norg1\n{agent.user_id}\ntx-this-morning"
    records.insert("transaction", old, "org1", now - REMEMBERED_FOR_MS - 1, {"result": {}})
    records.insert("transaction", recent, "org1", now - REMEMBERED_FOR_MS // 2, {"result": {}})
    await _send(agent, _fields(agent2), transaction_id="tx-new")
    assert records.get("transaction", old) is None
    assert records.get("transaction", recent) is not None
