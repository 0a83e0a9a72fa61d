"""Transport, token and retry behaviour of the API client.

These tests run the client against a small aiohttp server written here, on loopback, because
they need a server that misbehaves on purpose: answers 503, drops connections, stalls past
the timeout, rejects tokens, echoes secrets in its error text. The real local platform is
exercised by the other ``test_api_client_*`` files; this one pins down the client's own rules.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from agent.api.auth import (
    ClientCredentials,
    RefreshTokenLogin,
    StaticToken,
    TicketLogin,
    Token,
    TokenProvider,
)
from agent.api.errors import ApiError
from agent.api.http import Call, FilePart, HttpTransport
from agent.redact import (
    RedactingFilter,
    forget_secret,
    install_redaction,
    redact,
    register_secret,
)

SECRET = "s3cr3t-client-secret-value"
SIGNING_KEY = "test-signing-key-that-is-long-enough-for-hs256"

ECHO = Call("echo", "GET", "/rtc-api/echo")
POST_ECHO = Call("postEcho", "POST", "/rtc-api/echo")


@dataclass
class FakePlatform:
    """State of the misbehaving server; tests set the knobs and read the counters."""

    expires_in: int = 3600
    token_requests: list[dict[str, str]] = field(default_factory=list)
    basic_auth: list[tuple[str, str]] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)
    reject_all_tokens: bool = False
    refuse_refresh: bool = False
    failures: dict[str, int] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    authorizations: list[str | None] = field(default_factory=list)
    uploads: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)

    def issue(self, sub: str, conference_id: str | None = None) -> dict[str, Any]:
        now = int(time.time())
        claims = {"sub": sub, "organization": "org-1", "exp": now + self.expires_in, "iat": now}
        claims["jti"] = uuid.uuid4().hex
        token = jwt.encode(claims, SIGNING_KEY, algorithm="HS256")
        self.issued.append(token)
        answer: dict[str, Any] = {
            "access_token": token,
            "token_type": "bearer",
            "refresh_token": "refresh-" + uuid.uuid4().hex,
            "expires_in": self.expires_in,
            "scope": "openid",
            "jti": claims["jti"],
            "organization": "org-1",
            "sub": sub,
        }
        if conference_id:
            answer["conference_id"] = conference_id
        return answer

    def fail_next(self, name: str, times: int) -> None:
        self.failures[name] = times

    def should_fail(self, name: str) -> bool:
        self.hits[name] = self.hits.get(name, 0) + 1
        left = self.failures.get(name, 0)
        if left > 0:
            self.failures[name] = left - 1
            return True
        return False


def build_app(state: FakePlatform) -> web.Application:
    async def token(request: web.Request) -> web.Response:
        form = dict(await request.post())
        state.token_requests.append({k: str(v) for k, v in form.items()})
        header = request.headers.get("Authorization", "")
        user, password = "", ""
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            state.basic_auth.append((user, password))
        grant = form.get("grant_type")
        if grant == "client_credentials":
            client_secret = password or str(form.get("client_secret", ""))
            if client_secret != SECRET:
                return web.json_response(
                    {"error": "invalid_client", "error_description": "Bad client credentials"},
                    status=401,
                )
            return web.json_response(state.issue("service-user"))
        if grant == "password":
            if user != "customer":
                return web.json_response({"error": "unauthorized_client"}, status=401)
            return web.json_response(state.issue("customer-1", conference_id="conf-9"))
        if grant == "refresh_token":
            if state.refuse_refresh:
                return web.json_response(
                    {"error": "invalid_grant", "error_description": "Invalid refresh token"},
                    status=400,
                )
            return web.json_response(state.issue("refreshed-user"))
        return web.json_response({"error": "unsupported_grant_type"}, status=400)

    def bearer(request: web.Request) -> str | None:
        header = request.headers.get("Authorization")
        state.authorizations.append(header)
        if header is None or not header.startswith("Bearer "):
            return None
        return header[7:]

    async def echo(request: web.Request) -> web.StreamResponse:
        name = request.query.get("mode", "ok")
        failing = state.should_fail(f"{request.method}:{name}")
        token_value = bearer(request)
        if token_value is None:
            raise web.HTTPUnauthorized(
                text='{"message":"no token"}', content_type="application/json"
            )
        if state.reject_all_tokens or token_value in state.revoked:
            # A careless server that repeats the token it rejects: the client must redact it.
            return web.json_response({"message": f"token {token_value} is not valid"}, status=401)
        if failing and name == "unavailable":
            return web.json_response({"message": "try later"}, status=503)
        if failing and name == "drop":
            assert request.transport is not None
            request.transport.close()
            await asyncio.sleep(0.05)
            return web.Response()
        if failing and name == "slow":
            await asyncio.sleep(3)
        if name == "text-error":
            return web.Response(text="plain failure text", status=409)
        if name == "oauth-error":
            return web.json_response(
                {"error": "access_denied", "error_description": "not your conference"}, status=403
            )
        if name == "echo-secret":
            return web.json_response(
                {"message": f"bad request from {SECRET} with Bearer {token_value}"}, status=400
            )
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            fields: dict[str, str] = {}
            content = b""
            filename = ""
            async for part in reader:
                if part.filename:  # type: ignore[union-attr]
                    filename = part.filename  # type: ignore[union-attr]
                    content = await part.read()  # type: ignore[union-attr]
                else:
                    fields[part.name or ""] = await part.text()  # type: ignore[union-attr]
            state.uploads.append((filename, content, fields))
        return web.json_response(
            {"ok": True, "method": request.method, "query": dict(request.query)}
        )

    async def signed(request: web.Request) -> web.Response:
        state.authorizations.append(request.headers.get("Authorization"))
        return web.Response(body=b"\x89PNG-bytes", content_type="image/png")

    app = web.Application()
    app.router.add_post("/security/oauth/token", token)
    app.router.add_route("*", "/rtc-api/echo", echo)
    app.router.add_get("/rtc-api/snapshots/signed/{id}/{exp}", signed)

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("https://elsewhere.invalid/rtc-api/echo")

    app.router.add_get("/rtc-api/moved", moved)
    return app


@pytest.fixture
async def platform() -> AsyncIterator[tuple[FakePlatform, str]]:
    state = FakePlatform()
    server = TestServer(build_app(state), host="127.0.0.1")
    await server.start_server()
    try:
        yield state, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


def transport(base: str, auth: TokenProvider | None = None, **kwargs: Any) -> HttpTransport:
    kwargs.setdefault("backoff", 0.01)
    return HttpTransport(base, auth, **kwargs)


async def test_client_credentials_token_is_sent_and_claims_exposed(
    platform: tuple[FakePlatform, str],
) -> None:
    state, base = platform
    auth = ClientCredentials("bot", SECRET)
    http = transport(base, auth)
    try:
        body = await http.request_json(ECHO)
        assert body["ok"] is True
        assert state.basic_auth == [("bot", SECRET)]
        assert state.token_requests[0]["grant_type"] == "client_credentials"
        assert "client_secret" not in state.token_requests[0]
        assert state.authorizations[-1] == f"Bearer {state.issued[0]}"
        assert auth.claims is not None
        assert auth.claims.sub == "service-user"
        assert auth.claims.organization == "org-1"
    finally:
        await http.close()


async def test_credentials_in_body_when_asked(platform: tuple[FakePlatform, str]) -> None:
    state, base = platform
    http = transport(base, ClientCredentials("bot", SECRET, credentials_in_body=True))
    try:
        await http.request_json(ECHO)
        assert state.basic_auth == []
        assert state.token_requests[0]["client_id"] == "bot"
        assert state.token_requests[0]["client_secret"] == SECRET
    finally:
        await http.close()


async def test_concurrent_calls_fetch_one_token(platform: tuple[FakePlatform, str]) -> None:
    state, base = platform
    http = transport(base, ClientCredentials("bot", SECRET))
    try:
        await asyncio.gather(*(http.request_json(ECHO) for _ in range(10)))
        assert len(state.token_requests) == 1
    finally:
        await http.close()


async def test_token_renewed_in_background_before_expiry_and_listeners_told(
    platform: tuple[FakePlatform, str],
) -> None:
    state, base = platform
    state.expires_in = 2  # shorter than the 40 s margin: renewal happens half-way
    auth = ClientCredentials("bot", SECRET)
    http = transport(base, auth)
    seen: list[Token] = []
    renewed = asyncio.Event()

    def listener(token: Token) -> None:
        seen.append(token)
        if len(seen) == 2:
            renewed.set()

    auth.add_listener(listener)
    try:
        await http.request_json(ECHO)
        first = auth.token
        assert first is not None and first.refresh_at is not None
        await asyncio.wait_for(renewed.wait(), timeout=10)
        assert state.token_requests[1]["grant_type"] == "refresh_token"
        assert state.token_requests[1]["refresh_token"] == first.refresh_token
        assert seen[1].access_token != first.access_token
        assert auth.claims is not None and auth.claims.sub == "refreshed-user"
        await http.request_json(ECHO)
        assert state.authorizations[-1] == f"Bearer {seen[1].access_token}"
    finally:
        await http.close()


async def test_due_token_renewed_lazily_by_the_next_call(
    platform: tuple[FakePlatform, str],
) -> None:
    state, base = platform
    state.expires_in = 2
    auth = ClientCredentials("bot", SECRET, auto_refresh=False)
    http = transport(base, auth)
    try:
        await http.request_json(ECHO)
        first = auth.token
        assert first is not None and first.refresh_at is not None
        await asyncio.sleep(max(0.0, first.refresh_at - time.time()) + 0.1)
        assert len(state.token_requests) == 1  # nothing renews in the background
        await http.request_json(ECHO)
        assert len(state.token_requests) == 2
        assert state.authorizations[-1] != f"Bearer {first.access_token}"
    finally:
        await http.close()


async def test_rejected_token_is_renewed_once_and_call_repeated(
    platform: tuple[FakePlatform, str],
) -> None:
    state, base = platform
    auth = ClientCredentials("bot", SECRET)
    http = transport(base, auth)
    try:
        await http.request_json(ECHO)
        state.revoked.add(state.issued[0])
        body = await http.request_json(ECHO)
        assert body["ok"] is True
        assert len(state.token_requests) == 2
        assert state.authorizations[-1] == f"Bearer {state.issued[1]}"
    finally:
        await http.close()


async def test_persistent_401_fails_after_one_renewal(platform: tuple[FakePlatform, str]) -> None:
    state, base = platform
    http = transport(base, ClientCredentials("bot", SECRET))
    state.reject_all_tokens = True
    try:
        with pytest.raises(ApiError) as caught:
            await http.request_json(ECHO)
        assert caught.value.status == 401
        assert len(state.token_requests) == 2  # first token, one renewal, then give up
        assert state.hits["GET:ok"] == 2
        assert "echo (GET /rtc-api/echo)" in str(caught.value)
    finally:
        await http.close()


async def test_refused_refresh_token_falls_back_to_the_grant(
    platform: tuple[FakePlatform, str],
) -> None:
    state, base = platform
    auth = ClientCredentials("bot", SECRET)
    http = transport(base, auth)
    try:
        await http.request_json(ECHO)
        state.revoked.add(state.issued[0])
        state.refuse_refresh = True
        await http.request_json(ECHO)
        grants = [r["grant_type"] for r in state.token_requests]
        assert grants == ["client_credentials", "refresh_token", "client_credentials"]
    finally:
        await http.close()


async def test_static_token_is_sent_and_never_renewed(platform: tuple[FakePlatform, str]) -> None:
    state, base = platform
    issued = state.issue("static-user")["access_token"]
    auth = StaticToken(issued)
    assert auth.claims is not None and auth.claims.sub == "static-user"
    http = transport(base, auth)
    try:
        await http.request_json(ECHO)
        assert state.authorizations[-1] == f"Bearer {issued}"
        state.revoked.add(issued)
        with pytest.raises(ApiError) as caught:
            await http.request_json(ECHO)
        assert caught.value.status == 401
        assert state.token_requests == []
        assert issued not in str(caught.value)
    finally:
        await http.close()


async def test_ticket_login_uses_password_grant_with_customer_basic(
    platform: tuple[FakePlatform, str],
) -> None:
    state, base = platform
    auth = TicketLogin("ticket-abcdef")
    http = transport(base, auth)
    try:
        await http.request_json(ECHO)
        assert state.basic_auth == [("customer", "")]
        request = state.token_requests[0]
        assert request["grant_type"] == "password"
        assert request["username"] == "ticket-abcdef"
        assert auth.claims is not None
        assert auth.claims.conference_id == "conf-9"
        assert auth.claims.sub == "customer-1"
    finally:
        await http.close()


async def test_refresh_token_login(platform: tuple[FakePlatform, str]) -> None:
    state, base = platform
    auth = RefreshTokenLogin("refresh-initial-value")
    http = transport(base, auth)
    try:
        await http.request_json(ECHO)
        assert state.token_requests[0] == {
            "grant_type": "refresh_token",
            "refresh_token": "refresh-initial-value",
        }
        state.refuse_refresh = True
        state.revoked.add(state.issued[0])
        with pytest.raises(ApiError) as caught:
            await http.request_json(ECHO)
        assert caught.value.operation == "requestToken"
        assert caught.value.status == 400
        assert caught.value.message == "Invalid refresh token"
    finally:
        await http.close()


async def test_bad_client_secret_names_the_token_call(platform: tuple[FakePlatform, str]) -> None:
    _, base = platform
    http = transport(base, ClientCredentials("bot", "wrong-secret-value"))
    try:
        with pytest.raises(ApiError) as caught:
            await http.request_json(ECHO)
        error = caught.value
        assert (error.operation, error.method, error.path) == (
            "requestToken",
            "POST",
            "/security/oauth/token",
        )
        assert error.status == 401
        assert error.message == "Bad client credentials"
        assert "wrong-secret-value" not in str(error) + repr(error)
    finally:
        await http.close()


async def test_idempotent_call_retried_on_503(platform: tuple[FakePlatform, str]) -> None:
    state, base = platform
    http = transport(base, ClientCredentials("bot", SECRET))
    state.fail_next("GET:unavailable", 2)
    try:
        body = await http.request_json(ECHO, query={"mode": "unavailable"})
        assert body["ok"] is True
        assert state.hits["GET:unavailable"] == 3
    finally:
        await http.close()


async def test_non_idempotent_call_not_retried_on_503(platform: tuple[FakePlatform, str]) -> None:
    state, base = platform
    http = transport(base, ClientCredentials("bot", SECRET))
    state.fail_next("POST:unavailable", 1)
    try:
        with pytest.raises(ApiError) as caught:
            await http.request_json(POST_ECHO, query={"mode": "unavailable"})
        assert caught.value.status == 503
        assert caught.value.message == "try later"
        assert state.hits["POST:unavailable"] == 1
        assert str(caught.value) == "postEcho (POST /rtc-api/echo) failed: HTTP 503: try later"
    finally:
        await http.close()


async def test_call_marked_idempotent_is_retried(platform: tuple[FakePlatform, str]) -> None:
    state, base = platform
    keepalive_like = Call("keepAlive", "POST", "/rtc-api/echo", idempotent=True)
    http = transport(base, ClientCredentials("bot", SECRET))
    state.fail_next("POST:unavailable", 1)
    try:
        await http.request_json(keepalive_like, query={"mode": "unavailable"})
        assert state.hits["POST:unavailable"] == 2
    finally:
        await http.close()


async def test_dropped_connection_before_response_is_retried_with_fresh_multipart(
    platform: tuple[FakePlatform, str],
) -> None:
    state, base = platform
    http = transport(base, ClientCredentials("bot", SECRET))
    state.fail_next("POST:drop", 1)
    try:
        await http.request_json(
            POST_ECHO,
            query={"mode": "drop"},
            form={
                "snapshotId": "snap-1",
                "skipped": None,
                "image": FilePart(b"\xff\xd8jpeg", "snap.jpg", "image/jpeg"),
            },
        )
        assert state.hits["POST:drop"] == 2
        assert state.uploads == [("snap.jpg", b"\xff\xd8jpeg", {"snapshotId": "snap-1"})]
    finally:
        await http.close()


async def test_timeout_retried_only_for_idempotent_calls(
    platform: tuple[FakePlatform, str],
) -> None:
    state, base = platform
    http = transport(base, ClientCredentials("bot", SECRET), timeout=0.5)
    try:
        state.fail_next("POST:slow", 1)
        with pytest.raises(ApiError) as caught:
            await http.request_json(POST_ECHO, query={"mode": "slow"})
        assert caught.value.status is None
        assert "no answer within 0.5 s" in str(caught.value)
        assert state.hits["POST:slow"] == 1

        state.fail_next("GET:slow", 1)
        body = await http.request_json(ECHO, query={"mode": "slow"})
        assert body["ok"] is True
        assert state.hits["GET:slow"] == 2
    finally:
        await http.close()


async def test_per_call_time_limit_overrides_default(platform: tuple[FakePlatform, str]) -> None:
    state, base = platform
    http = transport(base, ClientCredentials("bot", SECRET), timeout=0.3)
    state.fail_next("POST:slow", 1)
    try:
        # The events long-poll style: a longer limit for one call.
        body = await asyncio.wait_for(
            http.request_json(POST_ECHO, query={"mode": "slow"}, time_limit=10), timeout=15
        )
        assert body["ok"] is True
        assert state.hits["POST:slow"] == 1  # answered once, after 3 s, without a retry
    finally:
        await http.close()


async def test_connection_refused_reports_no_response_after_attempts() -> None:
    # A port nobody listens on: bind, read the port, close.
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    http = transport(f"http://127.0.0.1:{port}", StaticToken("opaque-token-value"))
    try:
        with pytest.raises(ApiError) as caught:
            await http.request_json(ECHO)
        error = caught.value
        assert error.status is None
        assert error.attempts == 3
        assert str(error).startswith(
            "echo (GET /rtc-api/echo) failed after 3 attempts: no response"
        )
    finally:
        await http.close()


@pytest.mark.parametrize(
    ("mode", "status", "message"),
    [
        ("text-error", 409, "plain failure text"),
        ("oauth-error", 403, "not your conference"),
    ],
)
async def test_server_message_is_reported(
    platform: tuple[FakePlatform, str], mode: str, status: int, message: str
) -> None:
    _, base = platform
    http = transport(base, ClientCredentials("bot", SECRET))
    try:
        with pytest.raises(ApiError) as caught:
            await http.request_json(ECHO, query={"mode": mode})
        assert caught.value.status == status
        assert caught.value.message == message
        assert message in str(caught.value)
    finally:
        await http.close()


async def test_secrets_never_reach_exception_text_or_logs(
    platform: tuple[FakePlatform, str], caplog: pytest.LogCaptureFixture
) -> None:
    state, base = platform
    caplog.set_level(logging.DEBUG)
    auth = ClientCredentials("bot", SECRET)
    http = transport(base, auth)
    try:
        with pytest.raises(ApiError) as echoed:
            await http.request_json(ECHO, query={"mode": "echo-secret"})
        await http.request_json(ECHO)
        state.revoked.add(state.issued[0])
        state.reject_all_tokens = True
        with pytest.raises(ApiError) as rejected:
            await http.request_json(ECHO)
        logging.getLogger("test").error("call failed: %s", rejected.value)
        secrets = [SECRET, *state.issued]
        token = auth.token
        assert token is not None and token.refresh_token
        secrets.append(token.refresh_token)
        texts = [
            str(echoed.value),
            repr(echoed.value),
            echoed.value.body or "",
            str(rejected.value),
            repr(rejected.value),
            rejected.value.body or "",
            repr(auth),
            repr(token),
            repr(token.claims),
            caplog.text,
        ]
        for text in texts:
            for secret in secrets:
                assert secret not in text
        assert "bad request from [REDACTED]" in str(echoed.value)
        assert "is not valid" in str(rejected.value)
    finally:
        await http.close()


async def test_signed_url_download_carries_no_token(platform: tuple[FakePlatform, str]) -> None:
    state, base = platform
    http = transport(base, ClientCredentials("bot", SECRET))
    download = Call("downloadSigned", "GET", "(signed URL)", authenticated=False)
    try:
        response = await http.request(
            download, url=f"{base}/rtc-api/snapshots/signed/s1/123?signature=abc"
        )
        assert response.body == b"\x89PNG-bytes"
        assert state.authorizations == [None]
        relative = await http.request(download, url="/rtc-api/snapshots/signed/s1/123")
        assert relative.content_type == "image/png"
        with pytest.raises(ValueError):
            await http.request(ECHO, url=f"{base}/rtc-api/echo")
    finally:
        await http.close()


def test_redact_hides_secret_shapes() -> None:
    token = jwt.encode({"sub": "u"}, SIGNING_KEY, algorithm="HS256")
    text = (
        f"Authorization: Bearer abcdef123456 token={token} "
        f'{{"access_token": "xyz-123456", "password": "hunter22"}} '
        "url?signature=deadbeef&x=1 client_secret='shh-123456'"
    )
    cleaned = redact(text)
    for secret in (token, "abcdef123456", "xyz-123456", "hunter22", "deadbeef", "shh-123456"):
        assert secret not in cleaned
    assert "x=1" in cleaned
    assert redact("conference conf-1 joined") == "conference conf-1 joined"


def test_base_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="base URL"):
        HttpTransport("127.0.0.1:8080")


async def test_off_contract_response_is_an_api_error(platform: tuple[FakePlatform, str]) -> None:
    _, base = platform
    http = transport(base, ClientCredentials("bot", SECRET))
    download = Call("downloadSigned", "GET", "(signed URL)", authenticated=False)
    try:
        with pytest.raises(ApiError) as wrong_shape:
            await http.request_as(ECHO, list[int])
        assert wrong_shape.value.status == 200
        assert "response does not match" in wrong_shape.value.message
        with pytest.raises(ApiError) as not_json:
            await http.request_json(download, url="/rtc-api/snapshots/signed/s1/1")
        assert "response is not JSON" in not_json.value.message
    finally:
        await http.close()


def test_logging_filter_redacts_message_arguments_and_tracebacks() -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    register_secret("registered-secret-42")
    try:
        try:
            raise RuntimeError("failed with registered-secret-42")
        except RuntimeError:
            logger.exception("posting %s with %s", "password=hunter2222", "Bearer abcdefghijkl")
        text = handler.format(records[0])
        assert "hunter2222" not in text
        assert "abcdefghijkl" not in text
        assert "registered-secret-42" not in text
        assert "RuntimeError" in text  # the traceback is kept, only redacted
    finally:
        logger.removeHandler(handler)
        forget_secret("registered-secret-42")


def test_install_redaction_covers_every_logger(monkeypatch: pytest.MonkeyPatch) -> None:
    import agent.redact as redaction

    previous = logging.getLogRecordFactory()
    monkeypatch.setattr(redaction, "_installed", False)
    try:
        install_redaction()
        install_redaction()  # idempotent: one wrapper only
        record = logging.getLogger("anything").makeRecord(
            "anything", logging.INFO, __file__, 1, "token=%s", ("abcdef123456",), None
        )
        assert record.getMessage() == "token=[REDACTED]"
    finally:
        logging.setLogRecordFactory(previous)


async def test_redirect_is_reported_not_followed(platform: tuple[FakePlatform, str]) -> None:
    """Following it would send the bearer token to wherever the redirect points."""
    _, base = platform
    http = transport(base, ClientCredentials("bot", SECRET))
    try:
        with pytest.raises(ApiError) as caught:
            await http.request(Call("moved", "GET", "/rtc-api/moved"))
        assert caught.value.status == 302
        assert "redirected to https://elsewhere.invalid/rtc-api/echo" in caught.value.message
        with pytest.raises(ValueError, match="path parameter 'id' is missing"):
            await http.request(Call("getThing", "GET", "/rtc-api/things/{id}"))
    finally:
        await http.close()


def test_api_error_survives_pickling() -> None:
    """Scenario workers report errors across processes."""
    import pickle

    error = ApiError(
        operation="joinConference",
        method="POST",
        path="/rtc-api/conferences/join",
        status=404,
        message="conference c-1 not found",
    )
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error)
    assert (copy.status, copy.operation) == (404, "joinConference")
