"""Assets against the embedded platform with plain aiohttp: upload and replace, role-based
reading, signed downloads (inline only for real images), retried uploads and deletes by
X-Auvious-TransactionId, bad input, organization walls and a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.embedded import EmbeddedServer
from tests.platform_support import CLIENTS, PlatformUser, login
from tests.records_support import fetch_signed, form, jpeg_bytes, png_bytes, post_form, tamper

BASE = "/rtc-api/assets"


def _fields(roles: str = "agent,customer", **extra: str) -> dict[str, str]:
    return {"applicationId": "app1", "category": "branding", "rolesAllowedAccess": roles, **extra}


async def _upload(
    user: PlatformUser,
    asset_id: str,
    fields: dict[str, str],
    data: bytes,
    *,
    filename: str = "logo.jpg",
    content_type: str = "image/jpeg",
    transaction_id: str | None = None,
    expect: int = 204,
) -> Any:
    headers = {"X-Auvious-TransactionId": transaction_id} if transaction_id else None
    body = form(fields, file=(data, filename, content_type))
    return await post_form(user, f"{BASE}/{asset_id}", body, expect=expect, headers=headers)


async def _signed(user: PlatformUser, asset_id: str, *, expect: int = 200) -> Any:
    headers = {**user.headers, "Referer": "http://widget.example/"}
    async with user.http.post(f"{BASE}/{asset_id}/signedUrl", headers=headers) as response:
        body = await response.json()
        assert response.status == expect, body
        return body


async def test_upload_find_download_replace_delete(agent: PlatformUser) -> None:
    logo = jpeg_bytes()
    await _upload(agent, "logo-1", _fields(filename="brand.jpg"), logo, content_type="text/plain")
    [found] = await agent.call("GET", f"{BASE}?applicationId=app1")
    assert found["id"] == "logo-1" and found["category"] == "branding"
    assert found["filename"] == "brand.jpg" and found["size"] == len(logo)
    assert found["contentType"] == "image/jpeg"  # from the bytes, not the declared text/plain
    assert found["rolesAllowedAccess"] == "agent,customer" and found["organizationId"] == "org1"
    assert await agent.call("GET", f"{BASE}?applicationId=other") == []

    signed = await _signed(agent, "logo-1")
    data, response = await fetch_signed(signed["url"])
    assert data == logo
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.headers["Content-Disposition"].startswith("inline")

    # Uploading to the same id replaces the content; the URL keeps working, with the new bytes.
    await _upload(agent, "logo-1", _fields(), png_bytes(), filename="logo.png")
    assert (await fetch_signed(signed["url"]))[0] == png_bytes()

    await agent.call("DELETE", f"{BASE}/logo-1", expect=204)
    assert await agent.call("GET", f"{BASE}?applicationId=app1") == []
    # Its URL now names no record its signature could cover (ids are per organization, the
    # signature names the organization's record): refused like any unsigned path.
    await fetch_signed(signed["url"], expect=403)
    await agent.call("DELETE", f"{BASE}/logo-1", expect=404)
    await _non_image_and_tampering(agent)


async def _non_image_and_tampering(agent: PlatformUser) -> None:
    await _upload(agent, "doc", _fields(), b"<svg onload=alert(1)>", content_type="image/svg+xml")
    signed = await _signed(agent, "doc")
    _, response = await fetch_signed(signed["url"])
    # Not an image by its bytes: served, but only as a download, never rendered in place.
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["Content-Type"] == "image/svg+xml"
    await fetch_signed(tamper(signed["url"], expiration_delta=-1), expect=403)
    await fetch_signed(tamper(signed["url"], signature="0" * 43), expect=403)


async def test_reading_needs_one_of_the_asset_roles(
    agent: PlatformUser, agent2: PlatformUser
) -> None:
    await _upload(agent, "supervisors-only", _fields(roles="Supervisor"), jpeg_bytes())
    await _upload(agent, "everyone", _fields(roles="agent, supervisor"), jpeg_bytes())
    # agent1 is AGENT+SUPERVISOR, agent2 only AGENT: role names match without regard to case.
    assert {a["id"] for a in await agent.call("GET", f"{BASE}?applicationId=app1")} == {
        "supervisors-only",
        "everyone",
    }
    assert [a["id"] for a in await agent2.call("GET", f"{BASE}?applicationId=app1")] == ["everyone"]
    body = await _signed(agent2, "supervisors-only", expect=403)
    assert "Supervisor" in body["message"]
    await _signed(agent2, "everyone")


async def test_retried_uploads_and_deletes_are_recognised(
    agent: PlatformUser, server: EmbeddedServer
) -> None:
    await _upload(agent, "a1", _fields(), jpeg_bytes(), transaction_id="up-1")
    # The same transaction again does nothing, even with different content.
    await _upload(agent, "a1", _fields(), png_bytes(), transaction_id="up-1")
    [asset] = await agent.call("GET", f"{BASE}?applicationId=app1")
    assert asset["contentType"] == "image/jpeg"
    assert len(list((server.config.data_dir / "files" / "assets").iterdir())) == 1

    headers = {**agent.headers, "X-Auvious-TransactionId": "del-1"}
    for _ in range(2):  # the retry of a delete that succeeded answers 204 again, not 404
        async with agent.http.delete(f"{BASE}/a1", headers=headers) as response:
            assert response.status == 204
    assert list((server.config.data_dir / "files" / "assets").iterdir()) == []
    headers["X-Auvious-TransactionId"] = "del-2"
    async with agent.http.delete(f"{BASE}/a1", headers=headers) as response:
        assert response.status == 404


async def test_bad_input_gets_400_naming_the_field(agent: PlatformUser) -> None:
    jpeg = jpeg_bytes()
    body = await _upload(agent, "..%2F..%2Fsecret", _fields(), jpeg, expect=400)
    assert body["message"].startswith("assetId:")
    body = await _upload(agent, "-x", _fields(), jpeg, expect=400)
    assert body["message"].startswith("assetId:")
    body = await _upload(agent, "a", {"applicationId": "app1", "category": "c"}, jpeg, expect=400)
    assert "rolesAllowedAccess" in body["message"]
    body = await _upload(agent, "a", _fields(roles=" , "), jpeg, expect=400)
    assert body["message"].startswith("rolesAllowedAccess:")
    body = await _upload(agent, "a", {"rolesAllowedAccess": "agent"}, jpeg, expect=400)
    assert "applicationId" in body["message"] and "category" in body["message"]
    body = await post_form(agent, f"{BASE}/a", form(_fields()), expect=400)
    assert body["message"] == "file: a file part is required"
    body = await agent.call("GET", BASE, expect=400)
    assert "applicationId" in body["message"]
    headers = {**agent.headers, "X-Auvious-CreateInternalSignedUrl": "maybe"}
    await _upload(agent, "a", _fields(), jpeg)
    async with agent.http.post(f"{BASE}/a/signedUrl", headers=headers) as response:
        assert response.status == 400
        assert "X-Auvious-CreateInternalSignedUrl" in (await response.json())["message"]
    await _signed(agent, "missing", expect=404)


async def test_other_organizations_cannot_read_or_take_over(
    agent: PlatformUser, outsider: PlatformUser
) -> None:
    """Asset ids are per organization: another organization's id answers exactly as one that
    never existed, and choosing the same id makes a second asset, not a takeover."""
    jpeg, png = jpeg_bytes(), png_bytes()
    await _upload(agent, "shared-name", _fields(roles="agent"), jpeg)
    assert await outsider.call("GET", f"{BASE}?applicationId=app1") == []
    for asset_id in ("shared-name", "never-was"):
        body = await _signed(outsider, asset_id, expect=404)
        assert body["message"] == f"asset {asset_id} not found"
        body = await outsider.call("DELETE", f"{BASE}/{asset_id}", expect=404)
        assert body["message"] == f"asset {asset_id} not found"
    await _upload(outsider, "shared-name", _fields(roles="agent"), png)  # was 403
    [asset] = await agent.call("GET", f"{BASE}?applicationId=app1")
    assert asset["contentType"] == "image/jpeg"  # untouched
    [theirs] = await outsider.call("GET", f"{BASE}?applicationId=app1")
    assert theirs["contentType"] == "image/png" and theirs["organizationId"] == "org2"
    # One URL path per id, each organization's signature reaching its own file.
    ours_url = (await _signed(agent, "shared-name"))["url"]
    theirs_url = (await _signed(outsider, "shared-name"))["url"]
    assert (await fetch_signed(ours_url))[0] == jpeg
    assert (await fetch_signed(theirs_url))[0] == png
    await outsider.call("DELETE", f"{BASE}/shared-name", expect=204)
    assert (await fetch_signed(ours_url))[0] == jpeg


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"{BASE}?applicationId=x"),
        ("POST", f"{BASE}/x"),
        ("DELETE", f"{BASE}/x"),
        ("POST", f"{BASE}/x/signedUrl"),
    ],
)
async def test_calls_without_a_token_get_401(
    http: aiohttp.ClientSession, method: str, path: str
) -> None:
    async with http.request(method, path) as response:
        assert response.status == 401


async def test_assets_survive_a_restart(tmp_path: Path) -> None:
    clients = [spec for spec, _ in CLIENTS.values()]
    logo = jpeg_bytes()
    async with (
        EmbeddedServer(clients, data_dir=tmp_path) as first,
        aiohttp.ClientSession(first.base_url) as http,
    ):
        await _upload(await login(http, "agent1"), "logo", _fields(), logo)
    async with (
        EmbeddedServer(clients, data_dir=tmp_path) as second,
        aiohttp.ClientSession(second.base_url) as http,
    ):
        agent = await login(http, "agent1")
        assert [a["id"] for a in await agent.call("GET", f"{BASE}?applicationId=app1")] == ["logo"]
        assert (await fetch_signed((await _signed(agent, "logo"))["url"]))[0] == logo
