"""Interactions against the embedded platform with plain aiohttp: seed 001's create (with
organizationId for SERVICE callers, 409 on a taken id), get, update with optimistic locking,
the date-range list with its filters, sorting and Spring pages, walls, customers, restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from server.embedded import EmbeddedServer
from server.interactions import INTERACTION
from server.storage import Storage
from tests.platform_support import CLIENTS, PlatformUser, customer_login, login

BASE = "/rtc-api/interactions"


def _range(**params: Any) -> str:
    now = datetime.now(UTC)
    query = {
        "start": (now - timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
        "end": (now + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
        **params,
    }
    return f"{BASE}?{urlencode(query, doseq=True)}"


async def test_create_get_and_update_with_optimistic_locking(agent: PlatformUser) -> None:
    created = await agent.call(
        "POST", BASE, json={"interactionId": "genesys-42", "type": "video", "data": {"a": 1}}
    )
    assert created == {"interactionId": "genesys-42", "version": 0}
    got = await agent.call("GET", f"{BASE}/genesys-42")
    assert got["id"] == "genesys-42" and got["organizationId"] == "org1"
    assert got["createdBy"] == agent.user_id and got["createdAt"].endswith("Z")
    assert got["type"] == "video" and got["data"] == {"a": 1} and got["version"] == 0

    # A taken id is a conflict, whoever asks.
    body = await agent.call("POST", BASE, json={"interactionId": "genesys-42"}, expect=409)
    assert "genesys-42" in body["message"]

    await agent.call("PUT", f"{BASE}/genesys-42", json={"data": {"b": 2}, "version": 0}, expect=204)
    after = await agent.call("GET", f"{BASE}/genesys-42")
    assert after["data"] == {"b": 2} and after["type"] == "video" and after["version"] == 1
    # A writer still holding version 0 loses, and is told the current version.
    body = await agent.call(
        "PUT", f"{BASE}/genesys-42", json={"type": "chat", "version": 0}, expect=409
    )
    assert "version 1" in body["message"]
    # Without a version the update simply applies (the seed: "if not provided ... ignored").
    await agent.call("PUT", f"{BASE}/genesys-42", json={"type": "chat"}, expect=204)
    final = await agent.call("GET", f"{BASE}/genesys-42")
    assert final["type"] == "chat" and final["data"] == {"b": 2} and final["version"] == 2

    generated = await agent.call("POST", BASE, json={})
    assert generated["interactionId"] and generated["version"] == 0


async def test_bad_input_and_unknown_ids(agent: PlatformUser) -> None:
    await agent.call("GET", f"{BASE}/missing", expect=404)
    body = await agent.call("PUT", f"{BASE}/missing", json={"type": "x"}, expect=404)
    assert "missing" in body["message"]
    body = await agent.call("POST", BASE, json={"data": "not an object"}, expect=400)
    assert body["message"].startswith("data")
    body = await agent.call("POST", BASE, json={"interactionId": "a b"}, expect=400)
    assert body["message"].startswith("interactionId:")
    await agent.call("POST", BASE, json={"interactionId": "i1"})
    body = await agent.call("PUT", f"{BASE}/i1", json={"version": "one"}, expect=400)
    assert body["message"].startswith("version")
    await agent.call("PUT", f"{BASE}/i1", data=b"[1,2]", expect=400)

    body = await agent.call("GET", BASE, expect=400)
    assert "start" in body["message"] and "end" in body["message"]
    body = await agent.call("GET", f"{BASE}?start=yesterday&end=today", expect=400)
    assert "start" in body["message"]
    bad: list[tuple[dict[str, Any], str]] = [
        ({"page": -1}, "page"),
        ({"size": 0}, "size"),
        ({"size": 5000}, "size"),
        ({"sort": "data,asc"}, "sort"),
        ({"sort": "createdAt,sideways"}, "sort"),
        ({"type": "video,fax"}, "type"),
        ({"recording": "everything"}, "recording"),
        ({"onHoldDurationGt": "long"}, "onHoldDurationGt"),
        ({"params": "k1,v1,k2"}, "params"),
        ({"params": "a.b,v"}, "params"),
    ]
    for params, field in bad:
        body = await agent.call("GET", _range(**params), expect=400)
        assert field in body["message"], (params, body)
    now = datetime.now(UTC)
    reversed_range = {"start": now.isoformat(), "end": (now - timedelta(days=1)).isoformat()}
    body = await agent.call("GET", f"{BASE}?{urlencode(reversed_range)}")
    assert body["content"] == [] and body["totalElements"] == 0  # a range holding nothing


async def test_list_filters_sorting_and_pages(agent: PlatformUser, agent2: PlatformUser) -> None:
    specs = [
        (
            "v1",
            agent,
            "video",
            {
                "customerId": "cust-1",
                "tags": ["vip", "eu"],
                "recording": {"media": True},
                "onHoldDuration": 1000,
            },
        ),
        (
            "v2",
            agent2,
            "video",
            {
                "customerId": "cust-2",
                "tags": ["eu"],
                "recording": {"media": False, "cobrowse": True},
            },
        ),
        (
            "c1",
            agent,
            "chat",
            {
                "customerId": "cust-1",
                "conferenceId": "conf-1",
                "onHoldDuration": 30000,
                "channel": "web",
            },
        ),
        ("a1", agent2, "audio", {"tags": ["vip"], "channel": "web"}),
    ]
    for interaction_id, user, kind, data in specs:
        await user.call(
            "POST", BASE, json={"interactionId": interaction_id, "type": kind, "data": data}
        )

    async def ids(**params: Any) -> list[str]:
        page = await agent.call("GET", _range(**params))
        return [i["id"] for i in page["content"]]

    assert await ids() == ["v1", "v2", "c1", "a1"]  # by creation time
    assert await ids(type="video") == ["v1", "v2"]
    assert await ids(type="audio,chat") == ["c1", "a1"]
    assert await ids(userId=agent2.user_id) == ["v2", "a1"]
    assert await ids(customerId="cust-1") == ["v1", "c1"]
    assert await ids(conferenceId="conf-1") == ["c1"]
    assert await ids(tags="vip") == ["v1", "a1"]
    assert await ids(tags="vip,eu") == ["v1"]
    assert await ids(recording="media") == ["v1"]
    assert await ids(recording="no_media") == ["v2", "c1", "a1"]
    assert await ids(recording="cobrowse") == ["v2"]
    assert await ids(onHoldDurationGt=999) == ["v1", "c1"]
    assert await ids(onHoldDurationGt=999, onHoldDurationLt=5000) == ["v1"]
    assert await ids(params="channel,web") == ["c1", "a1"]
    assert await ids(sort="id,desc") == ["v2", "v1", "c1", "a1"]
    assert await ids(sort=["type,asc", "id,desc"]) == ["a1", "c1", "v2", "v1"]

    first = await agent.call("GET", _range(size=3, sort="id,asc"))
    assert [i["id"] for i in first["content"]] == ["a1", "c1", "v1"]
    assert first["totalElements"] == 4 and first["totalPages"] == 2
    assert first["first"] is True and first["last"] is False and first["empty"] is False
    assert first["number"] == 0 and first["size"] == 3 and first["numberOfElements"] == 3
    assert first["sort"] == {"empty": False, "sorted": True, "unsorted": False}
    assert first["pageable"] == {
        "offset": 0,
        "sort": first["sort"],
        "pageSize": 3,
        "paged": True,
        "pageNumber": 0,
        "unpaged": False,
    }
    second = await agent.call("GET", _range(size=3, page=1, sort="id,asc"))
    assert [i["id"] for i in second["content"]] == ["v2"]
    assert second["last"] is True and second["pageable"]["offset"] == 3
    beyond = await agent.call("GET", _range(size=3, page=5))
    assert beyond["content"] == [] and beyond["empty"] is True

    past = datetime.now(UTC) - timedelta(days=2)
    old_range = {"start": past.isoformat(), "end": (past + timedelta(days=1)).isoformat()}
    assert (await agent.call("GET", f"{BASE}?{urlencode(old_range)}"))["totalElements"] == 0


async def test_organizations_are_walls_except_for_services(
    agent: PlatformUser, outsider: PlatformUser, service: PlatformUser
) -> None:
    await agent.call("POST", BASE, json={"interactionId": "org1-only", "type": "video"})
    await outsider.call("GET", f"{BASE}/org1-only", expect=404)
    await outsider.call("PUT", f"{BASE}/org1-only", json={"type": "x"}, expect=404)
    assert (await outsider.call("GET", _range()))["totalElements"] == 0
    body = await outsider.call("GET", _range(organizationId="org1"), expect=403)
    assert "organizationId" in body["message"]
    # The body's organizationId is not a way in for staff: their token decides.
    await outsider.call("POST", BASE, json={"interactionId": "sneaky", "organizationId": "org1"})
    await agent.call("GET", f"{BASE}/sneaky", expect=404)
    assert (await outsider.call("GET", f"{BASE}/sneaky"))["organizationId"] == "org2"

    # SERVICE (seed 001): must name the organization to create; reads any by id; lists all.
    body = await service.call("POST", BASE, json={"type": "chat"}, expect=400)
    assert "organizationId" in body["message"]
    await service.call("POST", BASE, json={"interactionId": "svc-2", "organizationId": "org2"})
    assert (await outsider.call("GET", f"{BASE}/svc-2"))["organizationId"] == "org2"
    assert (await service.call("GET", f"{BASE}/org1-only"))["type"] == "video"
    await service.call("PUT", f"{BASE}/sneaky", json={"type": "audited"}, expect=204)
    assert (await outsider.call("GET", f"{BASE}/sneaky"))["type"] == "audited"
    everything = await service.call("GET", _range())
    assert {i["id"] for i in everything["content"]} == {"org1-only", "sneaky", "svc-2"}
    only_org2 = await service.call("GET", _range(organizationId="org2"))
    assert {i["id"] for i in only_org2["content"]} == {"sneaky", "svc-2"}


async def test_interaction_ids_are_per_organization(
    agent: PlatformUser, outsider: PlatformUser, service: PlatformUser
) -> None:
    """Another organization's interaction id answers exactly as one that never existed, and
    may be chosen again there; SERVICE callers reach their own organization's first."""
    await agent.call("POST", BASE, json={"interactionId": "case-1", "type": "video"})
    for interaction_id in ("case-1", "never-was"):
        body = await outsider.call("GET", f"{BASE}/{interaction_id}", expect=404)
        assert body["message"] == f"interaction {interaction_id} not found"
        update = {"type": "x"}
        body = await outsider.call("PUT", f"{BASE}/{interaction_id}", json=update, expect=404)
        assert body["message"] == f"interaction {interaction_id} not found"
    await outsider.call("POST", BASE, json={"interactionId": "case-1", "type": "chat"})  # was 409
    await agent.call("POST", BASE, json={"interactionId": "case-1"}, expect=409)  # own: taken
    await outsider.call("PUT", f"{BASE}/case-1", json={"type": "audio", "version": 0}, expect=204)
    assert (await agent.call("GET", f"{BASE}/case-1"))["type"] == "video"
    assert (await outsider.call("GET", f"{BASE}/case-1"))["type"] == "audio"
    assert (await service.call("GET", f"{BASE}/case-1"))["organizationId"] == "org1"


async def test_customers_have_no_access(agent: PlatformUser, http: aiohttp.ClientSession) -> None:
    ticket = await agent.call(
        "POST",
        "/security/ticket",
        json={"type": "MULTI_USE_TICKET", "ttl": 600, "properties": {"conference_id": "c"}},
    )
    customer = await customer_login(http, ticket["id"])
    await agent.call("POST", BASE, json={"interactionId": "i"})
    await customer.call("GET", f"{BASE}/i", expect=403)
    await customer.call("POST", BASE, json={}, expect=403)
    await customer.call("GET", _range(), expect=403)


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", BASE), ("GET", BASE), ("GET", f"{BASE}/i"), ("PUT", f"{BASE}/i")],
)
async def test_calls_without_a_token_get_401(
    http: aiohttp.ClientSession, method: str, path: str
) -> None:
    async with http.request(method, path, json={}) as response:
        assert response.status == 401


async def test_interactions_survive_a_restart(tmp_path: Path) -> None:
    clients = [spec for spec, _ in CLIENTS.values()]
    async with (
        EmbeddedServer(clients, data_dir=tmp_path) as first,
        aiohttp.ClientSession(first.base_url) as http,
    ):
        agent = await login(http, "agent1")
        await agent.call("POST", BASE, json={"interactionId": "keep", "data": {"x": 1}})
        await agent.call("PUT", f"{BASE}/keep", json={"data": {"x": 2}, "version": 0}, expect=204)
    async with (
        EmbeddedServer(clients, data_dir=tmp_path) as second,
        aiohttp.ClientSession(second.base_url) as http,
    ):
        agent = await login(http, "agent1")
        kept = await agent.call("GET", f"{BASE}/keep")
        assert kept["data"] == {"x": 2} and kept["version"] == 1
        await agent.call("PUT", f"{BASE}/keep", json={"version": 0}, expect=409)
        assert (await agent.call("GET", _range()))["totalElements"] == 1


async def test_a_data_dir_from_before_ids_per_organization_is_still_read(tmp_path: Path) -> None:
    """Records written under a bare id (before ids were per organization) are moved under
    their organization's at start, once, and read as before."""
    old = Storage(tmp_path)
    body = {"id": "old-1", "organizationId": "org1", "type": "chat", "createdBy": "u",
            "createdAt": "2026-12-01T10:00:00Z", "data": {"x": 1}}  # fmt: skip
    old.records.insert(INTERACTION, "old-1", "org1", 1_764_583_200_000, body)
    old.close()
    clients = [spec for spec, _ in CLIENTS.values()]
    for _ in range(2):  # a second start finds nothing left to move
        async with (
            EmbeddedServer(clients, data_dir=tmp_path) as server,
            aiohttp.ClientSession(server.base_url) as http,
        ):
            agent = await login(http, "agent1")
            assert (await agent.call("GET", f"{BASE}/old-1"))["data"] == {"x": 1}
            outsider = await login(http, "outsider")
            await outsider.call("GET", f"{BASE}/old-1", expect=404)
