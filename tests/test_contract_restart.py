"""A restart loses live state only (registrations, membership, media): tickets, conferences and
the tokens already handed out keep working on the restarted platform."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from server.embedded import EmbeddedServer
from tests.platform_support import CLIENTS, basic, customer_login, login

CLIENT_SPECS = [spec for spec, _ in CLIENTS.values()]


async def _token_login_status(http: aiohttp.ClientSession, ticket_id: str) -> int:
    data = {"grant_type": "password", "username": ticket_id, "password": ""}
    headers = {"Authorization": aiohttp.encode_basic_auth("customer", "")}
    async with http.post("/security/oauth/token", data=data, headers=headers) as response:
        return response.status


def _database(data_dir: Path) -> bytes:
    """The SQLite files (main database and write-ahead log) as raw bytes."""
    return b"".join(p.read_bytes() for p in data_dir.glob("platform.sqlite3*"))


async def test_a_ticket_outlives_a_restart_and_the_database_cannot_log_in(
    tmp_path: Path,
) -> None:
    async with (
        EmbeddedServer(CLIENT_SPECS, data_dir=tmp_path) as first,
        aiohttp.ClientSession(first.base_url) as http,
    ):
        agent = await login(http, "agent1")
        ticket = await agent.call(
            "POST",
            "/security/ticket",
            json={
                "type": "SCHEDULE_TICKET",
                "ttl": 600,
                "properties": {"conference_id": "conf-after-restart", "customer_id": "c-7"},
            },
        )
        short = await agent.call(
            "POST", "/security/ticket", json={"type": "MULTI_USE_TICKET", "ttl": 1}
        )
    assert ticket["id"].encode() not in _database(tmp_path), "only a hash of the ticket is kept"

    async with (
        EmbeddedServer(CLIENT_SPECS, data_dir=tmp_path) as second,
        aiohttp.ClientSession(second.base_url) as http,
    ):
        customer = await customer_login(http, ticket["id"])
        assert customer.token["conference_id"] == "conf-after-restart"
        assert customer.token["organization"] == "org1"
        assert customer.token["scope"] == "CUSTOMER"
        # A ticket is not a prefix match, and an unknown one is refused as before.
        assert await _token_login_status(http, ticket["id"][:-1]) == 400
        assert await _token_login_status(http, "") == 400
        # Expiry still holds across the restart (ttl 1 s has passed by now or soon).
        for _ in range(40):
            if await _token_login_status(http, short["id"]) == 400:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("an expired ticket still logs in")


async def test_tokens_issued_before_a_restart_still_work(tmp_path: Path) -> None:
    async with (
        EmbeddedServer(CLIENT_SPECS, data_dir=tmp_path) as first,
        aiohttp.ClientSession(first.base_url) as http,
    ):
        agent = await login(http, "agent1")
    async with (
        EmbeddedServer(CLIENT_SPECS, data_dir=tmp_path) as second,
        aiohttp.ClientSession(second.base_url) as http,
    ):
        agent.http = http
        assert await agent.call("GET", "/rtc-api/conferences/active") == []
        data = {"grant_type": "refresh_token", "refresh_token": agent.token["refresh_token"]}
        client = basic(*CLIENT_SPECS[0].split(":")[:2])
        async with http.post("/security/oauth/token", data=data, headers=client) as response:
            assert response.status == 200
            assert (await response.json())["sub"] == agent.user_id
    # Another data directory is another platform: its tokens open nothing here.
    async with (
        EmbeddedServer(CLIENT_SPECS, data_dir=tmp_path / "other") as other,
        aiohttp.ClientSession(other.base_url) as http,
    ):
        agent.http = http
        body = await agent.call("GET", "/rtc-api/conferences/active", expect=401)
        assert "not valid" in body["message"]


async def test_conferences_and_their_metadata_outlive_a_restart_per_organization(
    tmp_path: Path,
) -> None:
    """Issue 16: conferences are records (same ids, metadata and version after a restart, each
    organization its own); membership is live and gone; an ended conference stays ended."""
    conf = "/rtc-api/conferences"
    async with (
        EmbeddedServer(CLIENT_SPECS, data_dir=tmp_path) as first,
        aiohttp.ClientSession(first.base_url) as http,
    ):
        agent, outsider = await login(http, "agent1"), await login(http, "outsider")
        for user, site in ((agent, "lobby"), (outsider, "dock")):
            body = {"conferenceId": "kiosk-1", "metadata": {"site": site}}
            await user.call("POST", f"{conf}/create", json=body)
        endpoint = await agent.register()
        join = {"conferenceId": "kiosk-1", "userEndpointId": endpoint}
        await agent.call("POST", f"{conf}/join", json=join)
        await agent.call("POST", f"{conf}/create", json={"conferenceId": "over"})
        end = {"conferenceId": "over", "userEndpointId": endpoint}
        await agent.call("POST", f"{conf}/end", json=end, expect=204)
        before = await agent.call("GET", f"{conf}/kiosk-1/simpleView")
    async with (
        EmbeddedServer(CLIENT_SPECS, data_dir=tmp_path) as second,
        aiohttp.ClientSession(second.base_url) as http,
    ):
        agent, outsider = await login(http, "agent1"), await login(http, "outsider")
        view = await agent.call("GET", f"{conf}/kiosk-1/simpleView")
        assert view["metadata"]["site"]["value"] == "lobby"
        assert view["version"] >= before["version"], "versions go on, never back"
        assert view["participants"] == [], "membership is live: gone with the process"
        other = await outsider.call("GET", f"{conf}/kiosk-1/simpleView")
        assert other["metadata"]["site"]["value"] == "dock"
        await agent.call("GET", f"{conf}/over/simpleView", expect=404)
        assert [c["id"] for c in await agent.call("GET", f"{conf}/active")] == ["kiosk-1"]
