"""Seeds 002/001/000/003/004 against the platform and the client, operation by operation.

Every operation of the seeds must be served, described in `/rtc-api/openapi.json` with the
seed's body schema, query parameters and headers, and have a call in the client; the list
comes from the seed files themselves (`tests/contract_support.py`).
"""

from __future__ import annotations

from typing import Any

import aiohttp

from server.embedded import EmbeddedServer
from tests.contract_support import client_calls, path_shape, seed_operations

# 002's interaction listing takes a catch-all `params` object; 001 (newer, which wins) spells
# its filters out, and those are what the document lists.
SUPERSEDED_QUERY = {("GET", "/rtc-api/interactions"): {"params"}}
# Set by every HTTP client itself; no operation reads it as a parameter of its own.
TRANSPORT_HEADERS = {"Host"}


async def _document(http: aiohttp.ClientSession) -> dict[str, Any]:
    async with http.get("/rtc-api/openapi.json") as response:
        assert response.status == 200
        document: dict[str, Any] = await response.json()
        return document


def _documented(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path_shape(path)): operation
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }


def test_the_seed_list_is_read_whole() -> None:
    """Guards the parser: a format change in the seeds must not shrink the list silently."""
    operations = seed_operations()
    by_api = [path.split("/")[1] for _, path in operations]
    assert by_api.count("rtc-api") == 56
    assert by_api.count("rtc-recorder") == 14
    assert by_api.count("composition") == 10
    attachment = operations[
        ("GET", "/rtc-recorder/api/recordings/attachment/cobrowse/{}/{}/{}/{}/{}")
    ]
    assert attachment.query == {"Date", "Expires", "Signature"}
    player = operations[("GET", "/composition/api/player/inline/{}/{}/{}")]
    assert player.query == {"Date", "Expires", "Signature"} and player.headers == {"Range"}
    assert operations[("GET", "/rtc-api/conferences/{}/events")].query == {"v"}
    assert operations[("POST", "/rtc-api/conferences/join")].body_type == (
        "JoinConferenceWebCommand"
    )
    assert {"onHoldDurationGt", "tags"} <= operations[("GET", "/rtc-api/interactions")].query


def test_the_client_has_a_call_for_every_seed_operation() -> None:
    calls = client_calls()
    missing = sorted(shape for shape in seed_operations() if shape not in calls)
    assert missing == []
    # PROTOCOL.md's older ICE servers call is there too.
    assert ("GET", "/rtc-api/iceServers") in calls


async def test_every_seed_operation_is_documented_with_its_body_query_and_headers(
    server: EmbeddedServer, http: aiohttp.ClientSession
) -> None:
    documented = _documented(await _document(http))
    problems: list[str] = []
    for shape, seed in sorted(seed_operations().items()):
        operation = documented.get(shape)
        if operation is None:
            problems.append(f"{shape}: not served")
            continue
        body = operation.get("requestBody", {}).get("content", {})
        if seed.body_type is None and body:
            problems.append(f"{shape}: documents a body the seed does not have")
        elif seed.body_type == "object" and not body:
            problems.append(f"{shape}: the seed's body is not documented")
        elif seed.body_type not in (None, "object"):
            schema = body.get("application/json", {}).get("schema", {})
            if schema.get("$ref", "").rsplit("/", 1)[-1] != seed.body_type:
                problems.append(f"{shape}: body is {schema or None}, seed says {seed.body_type}")
        # Header names compare case-insensitively, as HTTP reads them (seed 004 writes
        # `referer`, seed 003 `Referer`: the document states one name for both).
        parameters = {
            (p["in"], p["name"].lower() if p["in"] == "header" else p["name"])
            for p in operation.get("parameters", [])
        }
        # An exploded object parameter (`style: form`) stands for its properties.
        parameters |= {
            ("query", name)
            for p in operation.get("parameters", [])
            if p.get("explode") and p["in"] == "query"
            for name in p["schema"].get("properties", {})
        }
        for name in sorted(seed.query - SUPERSEDED_QUERY.get(seed.shape, set())):
            if ("query", name) not in parameters:
                problems.append(f"{shape}: query parameter {name} not documented")
        for name in sorted(seed.headers - TRANSPORT_HEADERS):
            if ("header", name.lower()) not in parameters:
                problems.append(f"{shape}: header {name} not documented")
        if not any(status.startswith("2") for status in operation["responses"]):
            problems.append(f"{shape}: no success response documented")
    assert problems == [], "\n".join(problems)
