"""Bearer-token checking for the protected APIs (`/rtc-api/...` and whatever setups add).

Routes opt out with `@public` (signed-URL downloads, the OpenAPI document) rather than by a
path list, so the exemption sits next to the handler that needs it.
"""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web

from server.auth.caller import CALLER_KEY
from server.auth.tokens import TokenError, TokenService
from server.errors import Handler, Unauthorized

TOKENS_KEY = web.AppKey("auvious_token_service", TokenService)
AUTH_PREFIXES_KEY = web.AppKey("auvious_auth_prefixes", list[str])
"""Path prefixes that need a bearer token; a route module's `setup(app)` may append to it."""
BARE_TOKEN_PREFIXES_KEY = web.AppKey("auvious_bare_token_prefixes", list[str])
"""Prefixes whose swagger documents an apiKey `Authorization: <token>` (the Composition and
Recorder APIs): the token is accepted there without the `Bearer ` scheme too."""

_PUBLIC_ATTR = "__auvious_public__"
H = TypeVar("H")


def public(handler: H) -> H:
    """Mark a handler under a protected prefix as reachable without a token."""
    setattr(handler, _PUBLIC_ATTR, True)
    return handler


def bearer_token(request: web.Request, *, bare: bool = False) -> str:
    """The access token of `Authorization: Bearer <token>` (or a bare `<token>` if `bare`)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise Unauthorized("missing Authorization header (Authorization: Bearer <access token>)")
    if bare and not token and scheme.count(".") == 2:
        return scheme
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header must be 'Bearer <access token>'")
    return token.strip()


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    prefixes = request.app[AUTH_PREFIXES_KEY]
    if not any(request.path.startswith(p) for p in prefixes):
        return await handler(request)
    route_handler = request.match_info.handler
    if getattr(route_handler, _PUBLIC_ATTR, False):
        return await handler(request)
    try:
        bare = any(request.path.startswith(p) for p in request.app.get(BARE_TOKEN_PREFIXES_KEY, []))
        token = bearer_token(request, bare=bare)
        request[CALLER_KEY] = request.app[TOKENS_KEY].verify_access(token)
    except TokenError as exc:
        raise Unauthorized(str(exc)) from None
    return await handler(request)
