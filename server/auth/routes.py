"""`/security/oauth/token` and `/security/ticket`."""

from __future__ import annotations

import base64
import binascii

from aiohttp import web
from pydantic import ValidationError

from agent.api.models.auth import TicketRequest, TicketResponse, TokenRequestForm, TokenResponse
from server.auth.caller import CALLER_KEY
from server.auth.middleware import AUTH_PREFIXES_KEY
from server.auth.oauth import OAuthError, OAuthService
from server.errors import validation_message
from server.http import json_response, parse_body
from server.platform import PLATFORM_KEY, platform_of

OAUTH_KEY = web.AppKey("auvious_oauth", OAuthService)
TOKEN_PATH = "/security/oauth/token"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def setup(app: web.Application) -> None:
    platform = app[PLATFORM_KEY]
    app[OAUTH_KEY] = OAuthService(platform.config, platform.tokens, platform.tickets)
    app[AUTH_PREFIXES_KEY].append("/security/ticket")
    app.router.add_post(TOKEN_PATH, token)
    app.router.add_post("/security/ticket", create_ticket)


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    body = TokenResponse(error=error, error_description=description).to_wire()
    headers = dict(_NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="oauth"'
    return web.json_response(body, status=status, headers=headers)


def _basic_credentials(request: web.Request) -> tuple[str, str] | None:
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        login, sep, password = (
            base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        )
    except (ValueError, binascii.Error):
        raise OAuthError(401, "invalid_client", "malformed HTTP Basic credentials") from None
    if not sep:
        raise OAuthError(401, "invalid_client", "malformed HTTP Basic credentials")
    return login, password


async def token(request: web.Request) -> web.Response:
    if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return _oauth_error(
            400, "invalid_request", "the token request must be application/x-www-form-urlencoded"
        )
    try:
        posted = await request.post()
    except UnicodeDecodeError:
        return _oauth_error(400, "invalid_request", "the token request form is not UTF-8")
    except LookupError:  # aiohttp decodes with the declared charset, whatever it names
        charset = request.charset or ""
        return _oauth_error(400, "invalid_request", f"unknown charset {charset[:40]!r}")
    except ValueError as exc:  # a malformed multipart body
        return _oauth_error(400, "invalid_request", f"malformed token request form: {exc}")
    form = {k: v for k, v in posted.items() if isinstance(v, str)}
    grant = form.get("grant_type")
    if not grant:
        return _oauth_error(400, "invalid_request", "grant_type is required")
    if grant not in {"client_credentials", "password", "refresh_token"}:
        return _oauth_error(400, "unsupported_grant_type", f"grant_type {grant!r} is not supported")
    try:
        parsed = TokenRequestForm.model_validate(form)
        issued = request.app[OAUTH_KEY].grant(parsed, _basic_credentials(request))
    except ValidationError as exc:
        return _oauth_error(400, "invalid_request", validation_message(exc))
    except OAuthError as exc:
        return _oauth_error(exc.status, exc.error, exc.description)
    caller = issued.caller
    body = TokenResponse(
        access_token=issued.access_token,
        token_type="bearer",
        refresh_token=issued.refresh_token,
        expires_in=issued.expires_in,
        scope=" ".join(sorted(caller.roles)),
        jti=issued.jti,
        organization=caller.organization,
        sub=caller.user_id,
        conference_id=caller.conference_id,
    )
    return web.json_response(body.to_wire(), headers=_NO_STORE)


async def create_ticket(request: web.Request) -> web.Response:
    ticket_request = await parse_body(request, TicketRequest)
    ticket = platform_of(request).tickets.create(request[CALLER_KEY], ticket_request)
    return json_response(TicketResponse(id=ticket.id))
