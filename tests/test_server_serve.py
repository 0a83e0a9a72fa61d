"""`auvious-agent serve` as a separate process, driven with calls copied from the seed documents.

The request bodies below are the seed's own examples (placeholders such as "string" included),
sent with plain aiohttp: what a client written from the documents alone would send.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.serve_support import CHECKOUT_CLI, serve

DEV_CLIENT = re.compile(r"development client: id=(\S+) secret=(\S+) ")


async def call(
    http: aiohttp.ClientSession, method: str, path: str, token: str, body: Any = None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    async with http.request(method, path, json=body, headers=headers) as response:
        text = await response.text()
        return response.status, (await response.json() if text else None)


async def test_seed_examples_work_against_serve(tmp_path: Path) -> None:
    client = "seedbot:seed-secret:AGENT,SUPERVISOR:seedorg"
    async with (
        serve("--data-dir", str(tmp_path), "--client", client) as (base_url, lines),
        aiohttp.ClientSession(base_url) as http,
    ):
        assert not any("seed-secret" in line for line in lines), "configured secrets stay unprinted"
        async with http.post(
            "/security/oauth/token",
            data="grant_type=client_credentials&client_id=seedbot&client_secret=seed-secret",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ) as response:
            assert response.status == 200
            token = (await response.json())["access_token"]

        register = {
            "userEndpointId": "string",
            "keepAliveSeconds": 5,
            "serverKeepAliveReminderOn": True,
        }
        assert await call(http, "POST", "/rtc-api/users/endpoints", token, register) == (
            200,
            "string",
        )
        status, _ = await call(
            http, "POST", "/rtc-api/users/endpoints/keepalive", token, {"userEndpointId": "string"}
        )
        assert status == 204
        create = {
            "conferenceId": "string",
            "mode": "P2P",
            "organizationId": "string",
            "creatorEndpoint": "string",
            "interactionId": "string",
            "metadata": {"property1": "string", "property2": "string"},
        }
        status, summary = await call(http, "POST", "/rtc-api/conferences/create", token, create)
        assert (status, summary["id"], summary["version"]) == (200, "string", 0)
        join = {
            "conferenceId": "string",
            "userEndpointId": "string",
            "metadata": {"property1": {}, "property2": {}},
        }
        status, summary = await call(http, "POST", "/rtc-api/conferences/join", token, join)
        assert (status, summary["version"]) == (200, 1)
        metadata = {
            "conferenceId": "string",
            "userEndpointId": "string",
            "operation": "SET",
            "key": "string",
            "value": "string",
        }
        status, _ = await call(http, "POST", "/rtc-api/conferences/updateMetadata", token, metadata)
        assert status == 204
        participant = {
            "conferenceId": "string",
            "userEndpointId": "string",
            "newMetadata": {"property1": {}, "property2": {}},
        }
        status, _ = await call(
            http, "POST", "/rtc-api/conferences/updateParticipantMetadata", token, participant
        )
        assert status == 204
        status, view = await call(http, "GET", "/rtc-api/conferences/string/simpleView", token)
        assert (status, view["version"], view["metadata"]["string"]["value"]) == (200, 3, "string")
        status, events = await call(http, "GET", "/rtc-api/conferences/string/events?v=0", token)
        assert [e["conferenceVersion"] for e in events] == [0, 1, 2]
        status, active = await call(http, "GET", "/rtc-api/conferences/active", token)
        assert [c["id"] for c in active] == ["string"]
        leave = {"conferenceId": "string", "userEndpointId": "string", "reason": "string"}
        assert (await call(http, "POST", "/rtc-api/conferences/leave", token, leave))[0] == 204
        unregister = {"userEndpointId": "string", "reason": "string"}
        status, _ = await call(
            http, "POST", "/rtc-api/users/endpoints/unregister", token, unregister
        )
        assert status == 204


async def dev_client_token(base_url: str, lines: list[str]) -> dict[str, Any]:
    """The token answer for the one development client `serve` printed."""
    found = [m for line in lines if (m := DEV_CLIENT.search(line))]
    assert len(found) == 1, lines
    client_id, secret = found[0].groups()
    async with (
        aiohttp.ClientSession(base_url) as http,
        http.post(
            "/security/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": aiohttp.encode_basic_auth(client_id, secret)},
        ) as response,
    ):
        assert response.status == 200
        answer: dict[str, Any] = await response.json()
        return answer


async def test_serve_without_clients_prints_a_working_development_client(tmp_path: Path) -> None:
    async with serve("--data-dir", str(tmp_path)) as (base_url, lines):
        assert (await dev_client_token(base_url, lines))["organization"] == "dev"


async def test_serve_issues_tokens_of_the_lifetime_asked_for(tmp_path: Path) -> None:
    """`--access-token-ttl`: short tokens, to test a client's renewal against `serve`."""
    async with serve("--data-dir", str(tmp_path), "--access-token-ttl", "60") as (url, lines):
        assert (await dev_client_token(url, lines))["expires_in"] == 60


@pytest.mark.parametrize(
    ("option", "bad", "bounds"),
    [("--composition-workers", "17", "1 to 16"), ("--access-token-ttl", "5", "10 to 86400")],
)
def test_bounded_options_say_their_bounds(option: str, bad: str, bounds: str) -> None:
    result = subprocess.run(
        [*CHECKOUT_CLI, "serve", option, bad], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert f"{option}: {bad!r}: a whole number from {bounds}" in result.stderr
