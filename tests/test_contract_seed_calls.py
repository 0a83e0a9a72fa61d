"""More of the seeds against `auvious-agent serve` (a separate process) with plain aiohttp:
ICE servers, a ticket and a customer login, a snapshot round trip with its signed download,
a rating with feedback, and an interaction's life (create, read, update with its version,
list). Bodies follow the seed examples, with real ids where the call refers to something.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from tests.records_support import jpeg_bytes
from tests.serve_support import serve

BOT = "seedbot:seed-secret:AGENT,SUPERVISOR:seedorg"
PEER = "seedpeer:peer-secret:AGENT:seedorg"


class SeedCaller:
    """A client written from the documents alone: a bearer token and JSON or multipart."""

    def __init__(self, http: aiohttp.ClientSession, token: dict[str, Any]) -> None:
        self.http = http
        self.token = token
        self.headers = {"Authorization": f"Bearer {token['access_token']}"}

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        async with self.http.request(method, path, headers=headers, **kwargs) as response:
            text = await response.text()
            return response.status, (await response.json(content_type=None) if text else None)


async def _login(http: aiohttp.ClientSession, data: dict[str, str], **kwargs: Any) -> SeedCaller:
    async with http.post("/security/oauth/token", data=data, **kwargs) as response:
        assert response.status == 200, await response.text()
        return SeedCaller(http, await response.json())


async def test_ice_snapshot_rating_interaction_and_ticket_from_the_seeds(tmp_path: Path) -> None:
    turn_secret = tmp_path / "turn.secret"
    turn_secret.write_text("turn-secret-for-the-seed-test")
    async with (
        serve(
            "--data-dir", str(tmp_path / "data"), "--client", BOT, "--client", PEER,
            "--ice-server", "stun:127.0.0.1:3478", "--ice-server", "turn:127.0.0.1:3478",
            "--turn-secret-file", str(turn_secret),
        ) as (base_url, _),
        aiohttp.ClientSession(base_url) as http,
    ):  # fmt: skip
        bot = await _login(
            http,
            {
                "grant_type": "client_credentials",
                "client_id": "seedbot",
                "client_secret": "seed-secret",
            },
        )
        peer = await _login(
            http,
            {"grant_type": "client_credentials"},
            headers={"Authorization": aiohttp.encode_basic_auth("seedpeer", "peer-secret")},
        )

        # ICE servers, both shapes.
        status, v2 = await bot.call("GET", "/rtc-api/iceServers/v2")
        assert status == 200
        assert set(v2) >= {"stun", "turn", "turnUsername", "turnPassword", "ttl"}
        assert v2["turn"] == "turn:127.0.0.1:3478" and v2["ttl"] > 0
        status, v1 = await bot.call("GET", "/rtc-api/iceServers")
        assert status == 200
        assert [u for s in v1["iceServers"] for u in s["urls"]] == [
            "stun:127.0.0.1:3478",
            "turn:127.0.0.1:3478",
        ]

        # Two endpoints in one conference.
        register = {"keepAliveSeconds": 60, "serverKeepAliveReminderOn": False}
        status, bot_endpoint = await bot.call("POST", "/rtc-api/users/endpoints", json=register)
        assert status == 200 and isinstance(bot_endpoint, str)
        status, registered = await peer.call(
            "POST", "/rtc-api/users/endpoints/register", json=register
        )
        assert status == 200
        peer_endpoint = registered["id"]
        status, conference = await bot.call(
            "POST", "/rtc-api/conferences/create", json={"mode": "ROUTER"}
        )
        assert status == 200
        for caller, endpoint in ((bot, bot_endpoint), (peer, peer_endpoint)):
            join = {"conferenceId": conference["id"], "userEndpointId": endpoint}
            assert (await caller.call("POST", "/rtc-api/conferences/join", json=join))[0] == 200

        # A ticket (PROTOCOL.md's body) and the customer login it opens.
        ticket_request = {
            "type": "MULTI_USE_TICKET",
            "ttl": 600,
            "length": 16,
            "properties": {
                "applicationId": "string",
                "conference_id": conference["id"],
                "customer_id": "customer-1",
            },
        }
        status, ticket = await bot.call("POST", "/security/ticket", json=ticket_request)
        assert status == 200 and len(ticket["id"]) == 16
        customer = await _login(
            http,
            {"grant_type": "password", "username": ticket["id"], "password": ""},
            headers={"Authorization": aiohttp.encode_basic_auth("customer", "")},
        )
        assert customer.token["conference_id"] == conference["id"]

        # A snapshot: request, acquire (multipart), approve, read, list, signed download.
        request = {
            "applicationId": "string",
            "userEndpointId": bot_endpoint,
            "targetUserId": peer.token["sub"],
            "targetUserEndpointId": peer_endpoint,
            "sessionType": "CONFERENCE",
            "sessionId": conference["id"],
            "interactionId": "interaction-1",
            "snapshotType": "string",
        }
        status, requested = await bot.call("POST", "/rtc-api/snapshots/request", json=request)
        assert status == 200, requested
        snapshot_id = requested["snapshotId"]
        image = jpeg_bytes()
        form = aiohttp.FormData()
        for name, value in {
            "snapshotId": snapshot_id,
            "userEndpointId": peer_endpoint,
            "snapshotType": "string",
            "snapshotSuffix": "jpg",
            "snapshotMimeType": "image/jpeg",
        }.items():
            form.add_field(name, value)
        form.add_field("image", image, filename="snapshot.jpg", content_type="image/jpeg")
        status, _ = await peer.call("POST", "/rtc-api/snapshots/acquire", data=form)
        assert status == 204
        approve = {"snapshotId": snapshot_id, "userEndpointId": bot_endpoint}
        status, _ = await bot.call("POST", "/rtc-api/snapshots/approve", json=approve)
        assert status == 204
        status, snapshot = await bot.call("GET", f"/rtc-api/snapshots/{snapshot_id}")
        assert (status, snapshot["id"], snapshot["state"]) == (200, snapshot_id, "APPROVED")
        status, found = await bot.call("GET", "/rtc-api/snapshots?interactionId=interaction-1")
        assert status == 200 and [s["id"] for s in found] == [snapshot_id]
        signed_request = {"snapshotId": snapshot_id, "createInternalSignedUrl": True}
        status, signed = await bot.call(
            "POST",
            "/rtc-api/snapshots/signedUrl",
            json=signed_request,
            headers={"Referer": "https://app.example/"},
        )
        assert status == 200
        async with aiohttp.ClientSession() as anonymous, anonymous.get(
            signed["url"] if signed["url"].startswith("http") else base_url + signed["url"]
        ) as response:  # fmt: skip
            assert response.status == 200 and await response.read() == image

        # A rating with seed 000's feedback, found by interaction and by conference.
        rating = {
            "userEndpointId": bot_endpoint,
            "sessionType": "CONFERENCE",
            "sessionId": conference["id"],
            "rating": 4,
            "comment": "string",
            "feedback": [
                {"question": "string", "type": "TEXT_300", "answer": "string"},
                {"question": "string", "type": "RATING_1_5", "rating": 5},
            ],
            "interactionId": "interaction-1",
        }
        status, created = await bot.call("POST", "/rtc-api/ratings", json=rating)
        assert status == 200 and created["id"]
        for path in (
            "/rtc-api/ratings/interactions/interaction-1",
            f"/rtc-api/ratings/conferences/{conference['id']}",
        ):
            status, ratings = await bot.call("GET", path)
            assert status == 200 and [r["id"] for r in ratings] == [created["id"]], path
            assert ratings[0]["feedback"][1]["rating"] == 5 and ratings[0]["userRole"] == "AGENT"

        # An interaction: create, read, update with its version (a stale one is 409), list.
        interaction = {
            "interactionId": "string",
            "type": "string",
            "data": {"property1": {}, "property2": {}},
        }
        status, made = await bot.call("POST", "/rtc-api/interactions", json=interaction)
        assert status == 200, made
        interaction_id = made["interactionId"]
        status, read = await bot.call("GET", f"/rtc-api/interactions/{interaction_id}")
        assert status == 200 and read["type"] == "string"
        update = {"type": "video", "data": {"property1": {}}, "version": read["version"]}
        path = f"/rtc-api/interactions/{interaction_id}"
        assert (await bot.call("PUT", path, json=update))[0] == 204
        assert (await bot.call("PUT", path, json=update))[0] == 409
        status, page = await bot.call(
            "GET",
            "/rtc-api/interactions",
            params={"start": "2000-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z"},
        )
        assert status == 200
        assert [(i["id"], i["type"]) for i in page["content"]] == [(interaction_id, "video")]
