"""The services of one running platform, reachable from every handler via `PLATFORM_KEY`.

Route modules get what they need with `platform_of(request)` instead of module globals, so two
platforms (two tests, two servers) can live in one process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from server.auth.tokens import TokenService
from server.config import ServerConfig
from server.events import EventDelivery
from server.media.contract import MediaRouter


@dataclass(slots=True)
class Platform:
    config: ServerConfig
    tokens: TokenService
    events: EventDelivery
    router: MediaRouter | None

    @property
    def data_dir(self) -> Path:
        """Where records and files live (SQLite, uploads); created at startup."""
        return self.config.data_dir


PLATFORM_KEY = web.AppKey("auvious_platform", Platform)


def platform_of(request: web.Request) -> Platform:
    return request.app[PLATFORM_KEY]
