"""The application shell: error bodies for every failure, CORS for browser clients."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from server.app import create_app
from server.auth import public
from server.config import ServerConfig
from server.embedded import EmbeddedServer
from server.errors import Conflict


@pytest.fixture
async def shell(tmp_path: Path) -> AsyncIterator[aiohttp.ClientSession]:
    """The platform with two extra routes that fail on purpose (no route modules needed)."""

    @public
    async def crash(request: web.Request) -> web.Response:
        raise RuntimeError("internal detail that must not leak")

    @public
    async def refuse(request: web.Request) -> web.Response:
        raise Conflict("already there")

    app = create_app(ServerConfig(clients=(), data_dir=tmp_path), route_modules=[])
    app.router.add_get("/rtc-api/crash", crash)
    app.router.add_get("/rtc-api/refuse", refuse)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            yield http
    finally:
        await runner.cleanup()


async def test_an_unexpected_failure_is_a_500_without_a_traceback(
    shell: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="server.errors"):
        async with shell.get("/rtc-api/crash?signature=abc") as response:
            assert response.status == 500
            body = await response.json()
    assert body["status"] == 500
    assert body["message"] == "internal error while handling GET /rtc-api/crash"
    assert "Traceback" not in str(body) and "internal detail" not in str(body)
    assert any("GET /rtc-api/crash failed" in r.getMessage() for r in caplog.records)
    assert not any("signature" in r.getMessage() for r in caplog.records)


async def test_api_errors_and_unknown_routes_have_the_error_body(
    shell: aiohttp.ClientSession,
) -> None:
    async with shell.get("/rtc-api/refuse") as response:
        assert response.status == 409
        assert await response.json() == {
            "status": 409,
            "error": "Conflict",
            "message": "already there",
        }
    async with shell.get("/nowhere") as response:
        assert response.status == 404
        assert (await response.json())["message"] == "no such resource: GET /nowhere"
    async with shell.delete("/security/oauth/token") as response:
        assert response.status in (404, 405)
        assert (await response.json())["message"]


async def test_cors_preflight_and_headers_for_browser_clients() -> None:
    origin = "http://localhost:5173"
    async with (
        EmbeddedServer(["web:web-secret:AGENT:org1"]) as srv,
        aiohttp.ClientSession(srv.base_url) as http,
    ):
        preflight = {
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        }
        async with http.options("/rtc-api/conferences/join", headers=preflight) as response:
            assert response.status == 204
            assert response.headers["Access-Control-Allow-Origin"] == origin
            assert "POST" in response.headers["Access-Control-Allow-Methods"]
            assert response.headers["Access-Control-Allow-Headers"] == "authorization,content-type"
        # Errors carry the header too, so the page can read the message.
        async with http.get("/rtc-api/conferences/active", headers={"Origin": origin}) as response:
            assert response.status == 401
            assert response.headers["Access-Control-Allow-Origin"] == origin


async def test_an_embedded_server_without_clients_has_a_working_dev_client() -> None:
    async with EmbeddedServer() as srv, aiohttp.ClientSession(srv.base_url) as http:
        client = srv.client
        assert client.client_id == "dev"
        assert client.secret not in repr(srv) + repr(client)
        data = {
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": client.secret,
        }
        async with http.post("/security/oauth/token", data=data) as response:
            assert response.status == 200
            body = await response.json()
        assert body["organization"] == "dev"
        assert set(body["scope"].split()) == {"AGENT", "SUPERVISOR", "SERVICE"}
