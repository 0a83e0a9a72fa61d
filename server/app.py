"""The platform's aiohttp application: middlewares, services and the route modules.

Route modules plug in by name: each module in `ROUTE_MODULES` exposes
`def setup(app: web.Application) -> None` that adds its routes (and, if it needs them, its own
`app.on_startup` / `app.on_cleanup` hooks and `web.AppKey` state). Inside a handler:

    platform = platform_of(request)      # services: tokens, registrations, conferences, events
    caller = request[CALLER_KEY]         # the authenticated caller (user_id, organization, ...)

raise `server.errors.ApiError` (or `BadRequest`, `NotFound`, ...) for refusals; the error
middleware answers with JSON. Inputs come from the handler's signature under
`@server.openapi.operation(...)`: `body: Model` (JSON), `query: Model`, `form: Form[Model]`
(multipart), parsed before the handler runs and stated in the OpenAPI document.
Handlers under `/rtc-api/` need a bearer token unless decorated with `server.auth.public`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import Sequence

from aiohttp import web

from server.auth.middleware import (
    AUTH_PREFIXES_KEY,
    BARE_TOKEN_PREFIXES_KEY,
    TOKENS_KEY,
    auth_middleware,
)
from server.auth.tickets import TicketService
from server.auth.tokens import TokenService
from server.conferences.persist import ConferenceRecords
from server.conferences.service import Conferences
from server.config import ServerConfig
from server.cors import cors_middleware
from server.errors import error_middleware
from server.events import EventDelivery, EventPublisher
from server.media.contract import MediaRouter
from server.platform import PLATFORM_KEY, Platform
from server.registrations import Registrations
from server.storage import Storage, attach
from server.storage.records import RecordStore

log = logging.getLogger(__name__)

ROUTE_MODULES: list[str] = [
    "server.auth.routes",
    "server.registrations",
    "server.conferences.routes",
    "server.broker",
    "server.snapshots",
    "server.filetransfers",
    "server.assets",
    "server.ratings",
    "server.interactions",
    "server.ice",
    "server.talkdesk",
    "server.recorder.routes",
    "server.composition.routes",
    "server.openapi",
    "server.client_page",
    "server.index_page",
]
"""Modules whose `setup(app)` adds routes; append yours (e.g. "server.records.ratings")."""

CLIENT_MAX_SIZE = 64 * 1024 * 1024
"""Largest request body: snapshots, file transfers and assets are uploaded in one request."""


def build_platform(
    config: ServerConfig,
    router: MediaRouter | None,
    publisher: EventPublisher | None,
    records: RecordStore,
) -> Platform:
    tokens = TokenService(
        config.token_secret,
        access_ttl=config.access_token_ttl,
        refresh_ttl=config.refresh_token_ttl,
    )
    events = EventDelivery(publisher)
    registrations = Registrations(
        events,
        grace_seconds=config.keepalive_grace,
        reminder_lead=config.keepalive_reminder_lead,
        max_per_user=config.max_endpoints_per_user,
        max_per_organization=config.max_endpoints_per_organization,
    )
    conferences = Conferences(
        registrations,
        events,
        router,
        empty_ttl=config.empty_conference_ttl,
        ended_retention=config.ended_conference_retention,
        long_poll_seconds=config.long_poll_seconds,
        network_interval=config.network_indicator_interval,
        records=ConferenceRecords(records),
    )
    return Platform(
        config=config,
        tokens=tokens,
        tickets=TicketService(records, max_ttl=config.max_ticket_ttl),
        events=events,
        registrations=registrations,
        conferences=conferences,
        router=router,
    )


def _default_router() -> MediaRouter:
    from server.media.router import Router

    return Router()


def create_app(
    config: ServerConfig,
    *,
    router: MediaRouter | None = None,
    publisher: EventPublisher | None = None,
    route_modules: Sequence[str] | None = None,
) -> web.Application:
    """The whole platform as one aiohttp application (run it with `web.AppRunner`).

    `router` defaults to the real media router; `publisher` receives every event besides the
    MQTT broker (tests pass a `RecordingPublisher`).
    """
    app = web.Application(
        middlewares=[cors_middleware, error_middleware, auth_middleware],
        client_max_size=CLIENT_MAX_SIZE,
    )
    storage = Storage(config.data_dir)
    platform = build_platform(config, router or _default_router(), publisher, storage.records)
    app[PLATFORM_KEY] = platform
    app[TOKENS_KEY] = platform.tokens
    app[AUTH_PREFIXES_KEY] = ["/rtc-api/"]
    app[BARE_TOKEN_PREFIXES_KEY] = []
    housekeeping: list[asyncio.Task[None]] = []

    async def start(app: web.Application) -> None:
        await platform.events.start()
        housekeeping.append(asyncio.create_task(_housekeeping(platform), name="housekeeping"))

    async def stop(app: web.Application) -> None:
        for task in housekeeping:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await platform.conferences.close()
        await platform.registrations.close()
        if platform.router is not None:
            await platform.router.close()
        await platform.events.close()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    attach(app, storage)  # closed after `stop`, which may still write records
    for name in ROUTE_MODULES if route_modules is None else route_modules:
        importlib.import_module(name).setup(app)
    return app


async def _housekeeping(platform: Platform) -> None:
    """Expiry needs a clock, not a request: one loop checks it for the whole platform."""
    while True:
        await asyncio.sleep(platform.config.housekeeping_interval)
        try:
            await platform.sweep()
        except Exception:
            log.exception("housekeeping pass failed")
