"""The platform's aiohttp application: middlewares, services and the route modules.

Route modules plug in by name: each module in `ROUTE_MODULES` exposes
`def setup(app: web.Application) -> None` that adds its routes (and, if it needs them, its own
`app.on_startup` / `app.on_cleanup` hooks and `web.AppKey` state). Inside a handler:

    platform = platform_of(request)      # services: tokens, events, router, data_dir, ...
    caller = request[CALLER_KEY]         # the authenticated caller (user_id, organization, ...)

raise `server.errors.ApiError` (or `BadRequest`, `NotFound`, ...) for refusals and read bodies
with `server.http.parse_body(request, Model)`; the error middleware answers with JSON.
Handlers under `/rtc-api/` need a bearer token unless decorated with `server.auth.public`.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from aiohttp import web

from server.auth.middleware import AUTH_PREFIXES_KEY, TOKENS_KEY, auth_middleware
from server.auth.tokens import TokenService
from server.config import ServerConfig
from server.errors import error_middleware
from server.events import EventDelivery, EventPublisher
from server.media.contract import MediaRouter
from server.platform import PLATFORM_KEY, Platform

ROUTE_MODULES: list[str] = []
"""Modules whose `setup(app)` adds routes; append yours (e.g. "server.records.ratings")."""

CLIENT_MAX_SIZE = 64 * 1024 * 1024
"""Largest request body: snapshots, file transfers and assets are uploaded in one request."""


def create_app(
    config: ServerConfig,
    *,
    router: MediaRouter | None = None,
    publisher: EventPublisher | None = None,
    route_modules: Sequence[str] | None = None,
) -> web.Application:
    """The whole platform as one aiohttp application (run it with `web.AppRunner`)."""
    app = web.Application(
        middlewares=[error_middleware, auth_middleware], client_max_size=CLIENT_MAX_SIZE
    )
    tokens = TokenService(
        config.token_secret,
        access_ttl=config.access_token_ttl,
        refresh_ttl=config.refresh_token_ttl,
    )
    events = EventDelivery(publisher)
    platform = Platform(config=config, tokens=tokens, events=events, router=router)
    app[PLATFORM_KEY] = platform
    app[TOKENS_KEY] = tokens
    app[AUTH_PREFIXES_KEY] = ["/rtc-api/"]

    async def start(app: web.Application) -> None:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        await events.start()

    async def stop(app: web.Application) -> None:
        if router is not None:
            await router.close()
        await events.close()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    for name in ROUTE_MODULES if route_modules is None else route_modules:
        importlib.import_module(name).setup(app)
    return app
