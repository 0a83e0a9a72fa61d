"""The token endpoint, tickets and the bearer check, over HTTP against the embedded platform."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest

from server.auth.tokens import TokenService
from server.config import ClientConfig, ConfigError, ServerConfig
from server.embedded import EmbeddedServer
from tests.platform_support import (
    CLIENTS,
    PlatformUser,
    basic,
    customer_login,
    get_token,
    login,
    make_ticket,
)

TOKEN = "/security/oauth/token"
SECRET_A = "token-secret-value-0123456789abcdef"
SECRET_B = "another-servers-secret-0123456789abcdef"


async def post_token(
    http: aiohttp.ClientSession, data: Any, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    async with http.post(TOKEN, data=data, headers=headers) as response:
        return response.status, await response.json()


async def test_client_credentials_answers_every_protocol_field(
    http: aiohttp.ClientSession,
) -> None:
    body = await get_token(http, "agent1", "agent1-secret")
    for field in ("access_token", "refresh_token", "expires_in", "scope", "jti", "sub"):
        assert body[field], field
    assert body["organization"] == "org1"
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert "conference_id" not in body


async def test_a_client_keeps_its_user_id_and_clients_differ(http: aiohttp.ClientSession) -> None:
    first = await get_token(http, "agent1", "agent1-secret")
    second = await get_token(http, "agent1", "agent1-secret")
    other = await get_token(http, "agent2", "agent2-secret")
    assert first["sub"] == second["sub"]
    assert first["jti"] != second["jti"]
    assert other["sub"] != first["sub"]


async def test_client_credentials_with_http_basic(http: aiohttp.ClientSession) -> None:
    status, body = await post_token(
        http,
        {"grant_type": "client_credentials"},
        basic("service1", "service1-secret"),
    )
    assert status == 200
    assert body["organization"] == "org1"
    assert "SERVICE" in body["scope"]


@pytest.mark.parametrize(
    ("client_id", "secret"),
    [("agent1", "wrong-secret"), ("nobody", "agent1-secret"), ("agent1", "")],
)
async def test_bad_client_credentials_are_401_invalid_client(
    http: aiohttp.ClientSession, client_id: str, secret: str
) -> None:
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    status, body = await post_token(http, data)
    assert status == 401
    assert body["error"] == "invalid_client"
    assert "access_token" not in body
    assert "agent1-secret" not in str(body)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"client_id": "agent1"}, "invalid_request"),
        ({"grant_type": "authorization_code"}, "unsupported_grant_type"),
        ({"grant_type": "refresh_token"}, "invalid_request"),
        ({"grant_type": "password"}, "invalid_request"),
    ],
)
async def test_malformed_token_requests_are_400(
    http: aiohttp.ClientSession, data: dict[str, str], error: str
) -> None:
    status, body = await post_token(http, data)
    assert status == 400
    assert body["error"] == error
    assert body["error_description"]


async def test_a_json_token_request_is_refused_with_a_reason(http: aiohttp.ClientSession) -> None:
    async with http.post(TOKEN, json={"grant_type": "client_credentials"}) as response:
        assert response.status == 400
        body = await response.json()
    assert body["error"] == "invalid_request"
    assert "form" in body["error_description"]


async def test_refresh_gives_a_working_token_for_the_same_user(
    http: aiohttp.ClientSession, agent: PlatformUser
) -> None:
    status, body = await post_token(
        http,
        {"grant_type": "refresh_token", "refresh_token": agent.token["refresh_token"]},
        basic("agent1", "agent1-secret"),  # a confidential client authenticates (RFC 6749 6)
    )
    assert status == 200
    assert body["sub"] == agent.user_id
    assert body["access_token"] != agent.access_token
    refreshed = PlatformUser(http, body)
    assert await refreshed.call("GET", "/rtc-api/conferences/active") == []


async def test_refresh_refuses_an_access_token_and_another_clients_token(
    http: aiohttp.ClientSession, agent: PlatformUser
) -> None:
    status, body = await post_token(
        http, {"grant_type": "refresh_token", "refresh_token": agent.access_token}
    )
    assert (status, body["error"]) == (400, "invalid_grant")
    status, body = await post_token(
        http,
        {"grant_type": "refresh_token", "refresh_token": agent.token["refresh_token"]},
        basic("agent2", "agent2-secret"),
    )
    assert (status, body["error"]) == (400, "invalid_grant")


async def test_ticket_login_makes_a_customer_of_the_tickets_conference(
    http: aiohttp.ClientSession, agent: PlatformUser
) -> None:
    code = await make_ticket(agent, "conf-1")
    assert len(code) == 12
    first = await customer_login(http, code)
    second = await customer_login(http, code)
    assert first.token["conference_id"] == "conf-1"
    assert first.token["organization"] == "org1"
    assert first.token["scope"] == "CUSTOMER"
    assert first.user_id != second.user_id, "each ticket login is a new customer"
    # Customers cannot hand out tickets themselves.
    await first.call("POST", "/security/ticket", json={"type": "MULTI_USE_TICKET"}, expect=403)


async def test_ticket_logins_that_must_fail(
    http: aiohttp.ClientSession, agent: PlatformUser
) -> None:
    status, body = await post_token(
        http,
        {"grant_type": "password", "username": "no-such-ticket", "password": ""},
        basic("customer", ""),
    )
    assert (status, body["error"]) == (400, "invalid_grant")
    ticket = await agent.call("POST", "/security/ticket", json={"type": "SCHEDULE_TICKET"})
    status, body = await post_token(
        http,
        {"grant_type": "password", "username": ticket["id"], "password": ""},
        basic("agent1", "agent1-secret"),
    )
    assert (status, body["error"]) == (400, "unauthorized_client")


async def test_ticket_requests_need_a_token_and_a_valid_body(
    http: aiohttp.ClientSession, agent: PlatformUser
) -> None:
    async with http.post("/security/ticket", json={"type": "MULTI_USE_TICKET"}) as response:
        assert response.status == 401
    body = await agent.call("POST", "/security/ticket", json={"ttl": 60}, expect=400)
    assert "type" in body["message"]
    body = await agent.call(
        "POST", "/security/ticket", json={"type": "MULTI_USE_TICKET", "length": 3}, expect=400
    )
    assert "length" in body["message"]


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic YWdlbnQxOmFnZW50MS1zZWNyZXQ=", "Bearer", "Bearer not.a.jwt"],
)
async def test_rtc_api_without_a_valid_bearer_is_401(
    http: aiohttp.ClientSession, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    async with http.get("/rtc-api/conferences/active", headers=headers) as response:
        assert response.status == 401
        body = await response.json()
    assert body["message"]
    assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_expired_refresh_and_foreign_tokens_are_401(
    http: aiohttp.ClientSession, server: EmbeddedServer, agent: PlatformUser
) -> None:
    secret = server.config.token_secret
    an_hour_ago = TokenService(
        secret, access_ttl=60, refresh_ttl=120, clock=lambda: time.time() - 3600
    )
    foreign = TokenService(
        "another-servers-secret-0123456789abcdef", access_ttl=60, refresh_ttl=120
    )
    identity: dict[str, Any] = {
        "user_id": agent.user_id,
        "organization": "org1",
        "roles": ["AGENT"],
        "client_id": "agent1",
    }
    cases = {
        "expired": an_hour_ago.issue(**identity).access_token,
        "not an access": agent.token["refresh_token"],
        "not valid": foreign.issue(**identity).access_token,
    }
    for expected, token in cases.items():
        headers = {"Authorization": f"Bearer {token}"}
        async with http.get("/rtc-api/conferences/active", headers=headers) as response:
            assert response.status == 401
            body = await response.json()
        assert expected in body["message"], body
        assert token not in body["message"]


async def test_a_customer_token_only_reaches_its_own_conference(
    http: aiohttp.ClientSession, agent: PlatformUser
) -> None:
    mine = await agent.call("POST", "/rtc-api/conferences/create", json={})
    other = await agent.call("POST", "/rtc-api/conferences/create", json={})
    ticket = await agent.call(
        "POST",
        "/security/ticket",
        json={"type": "MULTI_USE_TICKET", "properties": {"conference_id": mine["id"]}},
    )
    customer = await customer_login(http, ticket["id"])
    endpoint = await customer.register()
    joined = await customer.call(
        "POST",
        "/rtc-api/conferences/join",
        json={"conferenceId": mine["id"], "userEndpointId": endpoint},
    )
    assert joined["version"] == 1
    await customer.call("GET", f"/rtc-api/conferences/{other['id']}", expect=403)
    active = await customer.call("GET", "/rtc-api/conferences/active")
    assert [c["id"] for c in active] == [mine["id"]]
    await customer.call("POST", "/rtc-api/conferences/create", json={}, expect=403)


async def test_tokens_of_one_platform_do_not_open_another() -> None:
    spec = CLIENTS["agent1"][0]
    async with EmbeddedServer([spec]) as one, EmbeddedServer([spec]) as two:
        async with aiohttp.ClientSession(one.base_url) as http_one:
            user = await login(http_one, "agent1")
        headers = {"Authorization": f"Bearer {user.access_token}"}
        async with (
            aiohttp.ClientSession(two.base_url) as http_two,
            http_two.get("/rtc-api/conferences/active", headers=headers) as response,
        ):
            assert response.status == 401


def test_client_specs_parse_and_bad_ones_name_the_problem() -> None:
    client = ClientConfig.parse("bot:s3cret:AGENT,supervisor:org1")
    assert client.roles == ("AGENT", "SUPERVISOR")
    assert client.organization == "org1"
    for bad, fragment in [
        ("bot:s3cret:AGENT", "ID:SECRET:ROLES:ORG"),
        ("bot::AGENT:org1", "secret is empty"),
        ("bot:s3cret:JANITOR:org1", "unknown roles"),
        ("customer:x:AGENT:org1", "reserved"),
    ]:
        with pytest.raises(ConfigError, match=fragment) as info:
            ClientConfig.parse(bad)
        assert "s3cret" not in str(info.value)


def test_secrets_stay_out_of_reprs(tmp_path: Any) -> None:
    client = ClientConfig.parse("bot:s3cret-value:AGENT:org1")
    config = ServerConfig(
        clients=(client,), data_dir=tmp_path, token_secret="token-secret-value-0123456789abcdef"
    )
    issued = TokenService(
        "token-secret-value-0123456789abcdef", access_ttl=60, refresh_ttl=60
    ).issue(user_id="u", organization="o", roles=["AGENT"], client_id="bot")
    for text in (repr(client), repr(config), repr(issued)):
        assert "s3cret-value" not in text
        assert SECRET_A not in text
        assert issued.access_token not in text
