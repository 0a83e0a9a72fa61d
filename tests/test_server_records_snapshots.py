"""Snapshots and camera requests against the embedded platform, with plain aiohttp: the
request -> acquire -> approve/discard flow and its events, uploads, signed downloads, the
wrong and repeated calls, organization walls, and a restart on the same data directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.embedded import EmbeddedServer
from server.events import RecordingPublisher
from server.snapshots import MAX_IMAGE_BYTES
from server.storage import STORAGE_KEY
from tests.platform_support import CLIENTS, PlatformUser, customer_login, login
from tests.records_support import fetch_signed, form, jpeg_bytes, png_bytes, post_form, tamper

BASE = "/rtc-api/snapshots"


def _is(topic: str, kind: str) -> Any:
    return lambda t, e: t == topic and e["type"] == kind


async def _request(
    requester: PlatformUser, req_ep: str, target: PlatformUser, target_ep: str, **extra: Any
) -> str:
    body = {
        "applicationId": "app1",
        "userEndpointId": req_ep,
        "targetUserId": target.user_id,
        "targetUserEndpointId": target_ep,
        "sessionType": "CONFERENCE",
        "sessionId": "conf-1",
        "interactionId": "int-1",
        "snapshotType": "id-card",
        **extra,
    }
    result = await requester.call("POST", f"{BASE}/request", json=body)
    return str(result["snapshotId"])


def _acquire_form(snapshot_id: str, endpoint: str, image: bytes, **overrides: str) -> Any:
    fields = {
        "snapshotId": snapshot_id,
        "userEndpointId": endpoint,
        "snapshotType": "id-card",
        "snapshotSuffix": "png",
        "snapshotMimeType": "image/png",
        **overrides,
    }
    return form(fields, image=(image, "../../etc/passwd", "image/png"))


async def test_request_acquire_approve_with_events_and_signed_download(
    agent: PlatformUser, agent2: PlatformUser, recorder: RecordingPublisher
) -> None:
    req_ep, target_ep = await agent.register(), await agent2.register()
    snapshot_id = await _request(agent, req_ep, agent2, target_ep)

    requested = await recorder.wait_for(_is(agent2.topic(target_ep), "SnapshotRequestedEvent"))
    assert requested["snapshotId"] == snapshot_id
    assert requested["userId"] == agent.user_id and requested["userEndpointId"] == req_ep
    assert requested["targetUserEndpointId"] == target_ep
    assert requested["snapshotType"] == "id-card"
    pending = await agent.call("GET", f"{BASE}/{snapshot_id}")
    assert "state" not in pending and pending["requesterUserEndpointId"] == req_ep

    # Declared PNG, really a JPEG: the bytes decide, and the client's file name is not used.
    image = jpeg_bytes()
    await post_form(
        agent2, f"{BASE}/acquire", _acquire_form(snapshot_id, target_ep, image), expect=204
    )
    acquired = await recorder.wait_for(_is(agent.topic(req_ep), "SnapshotAcquiredEvent"))
    assert acquired["snapshotId"] == snapshot_id and acquired["userEndpointId"] == target_ep
    assert acquired["snapshotLocation"] == f"interactions/int-1/snapshots/{snapshot_id}.jpg"

    stored = await agent.call("GET", f"{BASE}/{snapshot_id}")
    assert stored["state"] == "UPLOADED" and stored["mimeType"] == "image/jpeg"
    assert stored["suffix"] == "png" and stored["approved"] is False
    assert stored["organizationId"] == "org1" and stored["sessionType"] == "CONFERENCE"

    signed = await agent.call(
        "POST",
        f"{BASE}/signedUrl",
        json={"snapshotId": snapshot_id, "createInternalSignedUrl": True},
    )
    assert signed["url"].startswith(str(agent.http._base_url)) and signed["validUntil"].endswith(
        "Z"
    )
    data, response = await fetch_signed(signed["url"])
    assert data == image
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.headers["X-Content-Type-Options"] == "nosniff"

    await agent.call(
        "POST",
        f"{BASE}/approve",
        json={"snapshotId": snapshot_id, "userEndpointId": req_ep, "snapshotType": "passport"},
        expect=204,
    )
    approved = await recorder.wait_for(_is(agent.topic(req_ep), "SnapshotApprovedEvent"))
    assert approved["snapshotType"] == "passport" and approved["snapshotLocation"]
    final = await agent.call("GET", f"{BASE}/{snapshot_id}")
    assert (
        final["state"] == "APPROVED" and final["approved"] is True and final["type"] == "passport"
    )
    assert final["approvalProcessingResult"] == {"succeeded": True}
    assert final["version"] == 2

    listed = await agent.call("GET", f"{BASE}?interactionId=int-1")
    assert [s["id"] for s in listed] == [snapshot_id]
    assert await agent.call("GET", f"{BASE}?interactionId=other") == []

    # Repeated or out-of-order calls are refused with a message.
    again = {"snapshotId": snapshot_id, "userEndpointId": req_ep}
    await agent.call("POST", f"{BASE}/approve", json=again, expect=409)
    await agent.call("POST", f"{BASE}/discard", json=again, expect=409)
    await post_form(
        agent2, f"{BASE}/acquire", _acquire_form(snapshot_id, target_ep, image), expect=409
    )


async def test_only_the_target_acquires_and_only_images_within_the_limit(
    agent: PlatformUser, agent2: PlatformUser
) -> None:
    req_ep, target_ep = await agent.register(), await agent2.register()
    snapshot_id = await _request(agent, req_ep, agent2, target_ep)
    image = png_bytes()

    # The requester is not the target.
    body = await post_form(
        agent, f"{BASE}/acquire", _acquire_form(snapshot_id, req_ep, image), expect=403
    )
    assert "target endpoint" in body["message"]
    # Not an image, whatever it claims to be.
    html = b"<html><script>alert(1)</script></html>"
    body = await post_form(
        agent2, f"{BASE}/acquire", _acquire_form(snapshot_id, target_ep, html), expect=400
    )
    assert body["message"].startswith("image:")
    # Path-like suffix, missing field, missing file, unknown id, too large, not multipart.
    body = await post_form(
        agent2,
        f"{BASE}/acquire",
        _acquire_form(snapshot_id, target_ep, image, snapshotSuffix="../../x"),
        expect=400,
    )
    assert "snapshotSuffix" in body["message"]
    fields = {"snapshotId": snapshot_id, "userEndpointId": target_ep, "snapshotType": "t"}
    body = await post_form(
        agent2, f"{BASE}/acquire", form(fields, image=(image, "a.png", "image/png")), expect=400
    )
    assert "snapshotSuffix" in body["message"] and "snapshotMimeType" in body["message"]
    no_file = {**fields, "snapshotSuffix": "png", "snapshotMimeType": "image/png"}
    body = await post_form(agent2, f"{BASE}/acquire", form(no_file), expect=400)
    assert body["message"] == "image: a file part is required"
    body = await post_form(
        agent2, f"{BASE}/acquire", _acquire_form("nope", target_ep, image), expect=404
    )
    assert "snapshot nope" in body["message"]
    huge = image + b"\x00" * MAX_IMAGE_BYTES
    body = await post_form(
        agent2, f"{BASE}/acquire", _acquire_form(snapshot_id, target_ep, huge), expect=413
    )
    assert "limit" in body["message"]
    await agent2.call("POST", f"{BASE}/acquire", json={"snapshotId": snapshot_id}, expect=400)

    # None of that changed the request: the target can still answer it, with a PNG.
    await post_form(
        agent2, f"{BASE}/acquire", _acquire_form(snapshot_id, target_ep, image), expect=204
    )
    stored = await agent.call("GET", f"{BASE}/{snapshot_id}")
    assert stored["mimeType"] == "image/png" and stored["path"].endswith(".png")
    # The target may not decide on it: that is the requester's call.
    await agent2.call(
        "POST",
        f"{BASE}/approve",
        json={"snapshotId": snapshot_id, "userEndpointId": target_ep},
        expect=403,
    )


async def test_request_checks_endpoints_and_fields(
    agent: PlatformUser, agent2: PlatformUser
) -> None:
    req_ep, target_ep = await agent.register(), await agent2.register()
    body = await agent.call(
        "POST", f"{BASE}/request", json={"applicationId": "a", "userEndpointId": req_ep}, expect=400
    )
    assert "targetUserId" in body["message"] and "targetUserEndpointId" in body["message"]
    base = {"applicationId": "a", "userEndpointId": req_ep, "targetUserId": agent2.user_id}
    body = await agent.call(
        "POST", f"{BASE}/request", json={**base, "targetUserEndpointId": "ghost"}, expect=404
    )
    assert "ghost" in body["message"]
    body = await agent.call(
        "POST",
        f"{BASE}/request",
        json={**base, "targetUserId": "someone-else", "targetUserEndpointId": target_ep},
        expect=400,
    )
    assert body["message"].startswith("targetUserId:")
    # The requester endpoint must be the caller's own.
    await agent.call(
        "POST",
        f"{BASE}/request",
        json={**base, "userEndpointId": target_ep, "targetUserEndpointId": target_ep},
        expect=403,
    )
    await agent.call("POST", f"{BASE}/request", data=b"{not json", expect=400)
    body = await agent.call("GET", BASE, expect=400)
    assert "interactionId" in body["message"]
    await agent.call("GET", f"{BASE}/unknown-id", expect=404)
    await agent.call("POST", f"{BASE}/signedUrl", json={"snapshotId": "unknown-id"}, expect=404)


async def test_discard_removes_the_image_and_tells_the_requester(
    agent: PlatformUser, agent2: PlatformUser, recorder: RecordingPublisher, server: EmbeddedServer
) -> None:
    req_ep, target_ep = await agent.register(), await agent2.register()
    snapshot_id = await _request(agent, req_ep, agent2, target_ep)
    # Before it is acquired there is nothing to sign.
    await agent.call("POST", f"{BASE}/signedUrl", json={"snapshotId": snapshot_id}, expect=409)
    await agent.call(
        "POST",
        f"{BASE}/approve",
        json={"snapshotId": snapshot_id, "userEndpointId": req_ep},
        expect=409,
    )
    await post_form(
        agent2, f"{BASE}/acquire", _acquire_form(snapshot_id, target_ep, jpeg_bytes()), expect=204
    )
    signed = await agent.call("POST", f"{BASE}/signedUrl", json={"snapshotId": snapshot_id})
    await fetch_signed(signed["url"])

    decision = {"snapshotId": snapshot_id, "userEndpointId": req_ep}
    await agent.call("POST", f"{BASE}/discard", json=decision, expect=204)
    discarded = await recorder.wait_for(_is(agent.topic(req_ep), "SnapshotDiscardedEvent"))
    assert discarded["snapshotId"] == snapshot_id
    assert (await agent.call("GET", f"{BASE}/{snapshot_id}"))["state"] == "DISCARDED"
    await fetch_signed(signed["url"], expect=404)  # the URL was valid; the image is gone
    assert list((server.config.data_dir / "files" / "snapshots").iterdir()) == []
    await agent.call("POST", f"{BASE}/discard", json=decision, expect=409)
    assert await agent.call("GET", f"{BASE}?interactionId=int-1") == [
        await agent.call("GET", f"{BASE}/{snapshot_id}")
    ]


async def test_upload_goes_to_the_target_who_decides(
    agent: PlatformUser, agent2: PlatformUser, recorder: RecordingPublisher
) -> None:
    agent_ep, uploader_ep = await agent.register(), await agent2.register()
    fields = {
        "applicationId": "app1",
        "targetUserId": agent.user_id,
        "targetUserEndpointId": agent_ep,
        "interactionId": "int-up",
        "userEndpointId": uploader_ep,
        "snapshotType": "document",
        "snapshotSuffix": "jpg",
        "snapshotMimeType": "image/jpeg",
    }
    image = jpeg_bytes()
    result = await post_form(
        agent2, f"{BASE}/upload", form(fields, image=(image, "x.jpg", "image/jpeg"))
    )
    snapshot_id = result["snapshotId"]
    acquired = await recorder.wait_for(_is(agent.topic(agent_ep), "SnapshotAcquiredEvent"))
    assert acquired["snapshotId"] == snapshot_id and acquired["userId"] == agent2.user_id
    stored = await agent.call("GET", f"{BASE}/{snapshot_id}")
    assert stored["state"] == "UPLOADED" and stored["userId"] == agent2.user_id
    assert stored["requesterUserEndpointId"] == agent_ep
    await agent.call(
        "POST",
        f"{BASE}/approve",
        json={"snapshotId": snapshot_id, "userEndpointId": agent_ep},
        expect=204,
    )

    related = {**fields, "relatedSnapshotId": "missing"}
    body = await post_form(
        agent2, f"{BASE}/upload", form(related, image=(image, "x.jpg", "image/jpeg")), expect=404
    )
    assert "missing" in body["message"]
    text = {**fields}
    await post_form(
        agent2,
        f"{BASE}/upload",
        form(text, image=(b"GIF88a not really", "x", "image/gif")),
        expect=400,
    )


async def test_camera_request_round_trip(
    agent: PlatformUser, agent2: PlatformUser, recorder: RecordingPublisher
) -> None:
    req_ep, target_ep = await agent.register(), await agent2.register()
    body = {
        "userEndpointId": req_ep,
        "targetUserId": agent2.user_id,
        "targetUserEndpointId": target_ep,
        "sessionType": "CONFERENCE",
        "sessionId": "conf-1",
        "cameraRequestType": "FLASH_ON",
    }
    request_id = await agent.call("POST", f"{BASE}/cameraRequest", json=body)
    assert isinstance(request_id, str) and request_id
    asked = await recorder.wait_for(_is(agent2.topic(target_ep), "SnapshotCameraRequestedEvent"))
    assert asked["snapshotCameraRequestId"] == request_id
    assert asked["cameraRequestType"] == "FLASH_ON" and asked["userEndpointId"] == req_ep

    answer = {
        "snapshotCameraRequestId": request_id,
        "succeeded": False,
        "additionalInformation": "no torch on this device",
    }
    await agent.call(
        "POST",
        f"{BASE}/cameraRequestRespond",
        json={**answer, "userEndpointId": req_ep},
        expect=403,
    )
    await agent2.call(
        "POST",
        f"{BASE}/cameraRequestRespond",
        json={**answer, "userEndpointId": target_ep},
        expect=204,
    )
    processed = await recorder.wait_for(
        _is(agent.topic(req_ep), "SnapshotCameraRequestProcessedEvent")
    )
    assert processed["succeeded"] is False
    assert processed["additionalInformation"] == "no torch on this device"
    assert processed["userEndpointId"] == target_ep
    await agent2.call(
        "POST",
        f"{BASE}/cameraRequestRespond",
        json={**answer, "userEndpointId": target_ep},
        expect=409,
    )
    await agent2.call(
        "POST",
        f"{BASE}/cameraRequestRespond",
        json={**answer, "snapshotCameraRequestId": "nope", "userEndpointId": target_ep},
        expect=404,
    )
    # Unknown request types pass ("feel free to enter what suits you"); a missing one does not.
    await agent.call("POST", f"{BASE}/cameraRequest", json={**body, "cameraRequestType": "ZOOM"})
    del body["cameraRequestType"]
    msg = await agent.call("POST", f"{BASE}/cameraRequest", json=body, expect=400)
    assert "cameraRequestType" in msg["message"]


async def test_signed_urls_refuse_tampering_and_expiry(
    agent: PlatformUser, agent2: PlatformUser, server: EmbeddedServer
) -> None:
    req_ep, target_ep = await agent.register(), await agent2.register()
    snapshot_id = await _request(agent, req_ep, agent2, target_ep)
    other_id = await _request(agent, req_ep, agent2, target_ep)
    for sid in (snapshot_id, other_id):
        await post_form(
            agent2, f"{BASE}/acquire", _acquire_form(sid, target_ep, jpeg_bytes()), expect=204
        )
    signed = (await agent.call("POST", f"{BASE}/signedUrl", json={"snapshotId": snapshot_id}))[
        "url"
    ]
    await fetch_signed(signed)

    forged = [
        tamper(signed, expiration_delta=3_600_000),  # extend its life
        tamper(signed, signature="A" * 43),
        tamper(signed, signature=""),
        signed.replace(snapshot_id, other_id),  # reuse for another snapshot
        signed.replace("/snapshots/signed/", "/assets/signed/"),  # or another kind
    ]
    for url in forged:
        body, _ = await fetch_signed(url, expect=403)
        assert b"signature" in body

    expired = server.app[STORAGE_KEY].signer.sign("snapshots", snapshot_id, ttl_seconds=-1)
    body, _ = await fetch_signed(server.base_url + expired.path, expect=403)
    assert b"expired" in body


async def test_organizations_are_walls(
    agent: PlatformUser, agent2: PlatformUser, outsider: PlatformUser
) -> None:
    req_ep, target_ep = await agent.register(), await agent2.register()
    outsider_ep = await outsider.register()
    snapshot_id = await _request(agent, req_ep, agent2, target_ep)
    await post_form(
        agent2, f"{BASE}/acquire", _acquire_form(snapshot_id, target_ep, jpeg_bytes()), expect=204
    )

    await outsider.call("GET", f"{BASE}/{snapshot_id}", expect=404)
    assert await outsider.call("GET", f"{BASE}?interactionId=int-1") == []
    await outsider.call("POST", f"{BASE}/signedUrl", json={"snapshotId": snapshot_id}, expect=404)
    decision = {"snapshotId": snapshot_id, "userEndpointId": outsider_ep}
    await outsider.call("POST", f"{BASE}/approve", json=decision, expect=404)
    await outsider.call("POST", f"{BASE}/discard", json=decision, expect=404)
    # An outsider cannot aim a request at an endpoint of another organization.
    body = await outsider.call(
        "POST",
        f"{BASE}/request",
        json={
            "applicationId": "a",
            "userEndpointId": outsider_ep,
            "targetUserId": agent2.user_id,
            "targetUserEndpointId": target_ep,
        },
        expect=404,
    )
    assert target_ep in body["message"]
    assert (await agent.call("GET", f"{BASE}/{snapshot_id}"))["state"] == "UPLOADED"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"{BASE}/request"),
        ("POST", f"{BASE}/acquire"),
        ("POST", f"{BASE}/upload"),
        ("POST", f"{BASE}/approve"),
        ("POST", f"{BASE}/discard"),
        ("POST", f"{BASE}/signedUrl"),
        ("POST", f"{BASE}/cameraRequest"),
        ("POST", f"{BASE}/cameraRequestRespond"),
        ("GET", f"{BASE}?interactionId=x"),
        ("GET", f"{BASE}/x"),
    ],
)
async def test_calls_without_a_token_get_401(
    http: aiohttp.ClientSession, method: str, path: str
) -> None:
    async with http.request(method, path, json={}) as response:
        assert response.status == 401
        assert "Authorization" in (await response.json())["message"]


async def test_snapshots_survive_a_restart(tmp_path: Path) -> None:
    clients = [spec for spec, _ in CLIENTS.values()]
    image = jpeg_bytes()
    async with EmbeddedServer(clients, data_dir=tmp_path) as first:
        async with aiohttp.ClientSession(first.base_url) as http:
            agent, agent2 = await login(http, "agent1"), await login(http, "agent2")
            req_ep, target_ep = await agent.register(), await agent2.register()
            snapshot_id = await _request(agent, req_ep, agent2, target_ep)
            await post_form(
                agent2, f"{BASE}/acquire", _acquire_form(snapshot_id, target_ep, image), expect=204
            )
            signed = await agent.call("POST", f"{BASE}/signedUrl", json={"snapshotId": snapshot_id})
        path = signed["url"].removeprefix(first.base_url)

    async with (
        EmbeddedServer(clients, data_dir=tmp_path) as second,
        aiohttp.ClientSession(second.base_url) as http,
    ):
        agent = await login(http, "agent1")
        stored = await agent.call("GET", f"{BASE}/{snapshot_id}")
        assert stored["state"] == "UPLOADED" and stored["requesterUserEndpointId"] == req_ep
        # A URL signed before the restart still works (the key lives in the data dir).
        data, _ = await fetch_signed(second.base_url + path)
        assert data == image


async def test_a_customer_target_answers_and_sees_only_their_own_snapshots(
    agent: PlatformUser, agent2: PlatformUser, http: aiohttp.ClientSession
) -> None:
    ticket = await agent.call(
        "POST",
        "/security/ticket",
        json={"type": "MULTI_USE_TICKET", "ttl": 600, "properties": {"conference_id": "conf-1"}},
    )
    customer = await customer_login(http, ticket["id"])
    customer_ep, agent_ep, agent2_ep = (
        await customer.register(),
        await agent.register(),
        await agent2.register(),
    )
    theirs = await _request(agent, agent_ep, customer, customer_ep)
    await post_form(
        customer, f"{BASE}/acquire", _acquire_form(theirs, customer_ep, jpeg_bytes()), expect=204
    )
    other = await _request(agent, agent_ep, agent2, agent2_ep)
    await post_form(
        agent2, f"{BASE}/acquire", _acquire_form(other, agent2_ep, jpeg_bytes()), expect=204
    )

    assert (await customer.call("GET", f"{BASE}/{theirs}"))["userId"] == customer.user_id
    await customer.call("GET", f"{BASE}/{other}", expect=404)
    assert [s["id"] for s in await customer.call("GET", f"{BASE}?interactionId=int-1")] == [theirs]
    await customer.call("POST", f"{BASE}/signedUrl", json={"snapshotId": other}, expect=404)
    assert {s["id"] for s in await agent.call("GET", f"{BASE}?interactionId=int-1")} == {
        theirs,
        other,
    }
