"""The services of one running platform, reachable from every handler via `PLATFORM_KEY`.

Route modules get what they need with `platform_of(request)` instead of module globals, so two
platforms (two tests, two servers) can live in one process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:  # the services import `platform_of` from here for their routes
    from server.auth.tickets import TicketService
    from server.auth.tokens import TokenService
    from server.conferences.service import Conferences
    from server.config import ServerConfig
    from server.events import EventDelivery
    from server.media.contract import MediaRouter
    from server.registrations import Registrations


@dataclass(slots=True)
class Platform:
    config: ServerConfig
    tokens: TokenService
    tickets: TicketService
    events: EventDelivery
    registrations: Registrations
    conferences: Conferences
    router: MediaRouter | None

    @property
    def data_dir(self) -> Path:
        """Where records and files live (SQLite, uploads); created before startup hooks run."""
        return self.config.data_dir

    async def sweep(self) -> None:
        """One housekeeping pass: expire endpoints (they leave), then empty conferences."""
        await self.registrations.sweep()
        await self.conferences.sweep()


PLATFORM_KEY = web.AppKey("auvious_platform", Platform)


def platform_of(request: web.Request) -> Platform:
    return request.app[PLATFORM_KEY]
