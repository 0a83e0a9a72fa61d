"""The browser client page at `/client`: static files, no build step, no server-side state.

`/client` redirects to `/client/` (keeping the query) so the page's relative script paths
resolve under the prefix; the page then talks to the platform's REST API and `/ws` like any
other client, with the same tokens.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).parent / "static"
PREFIX = "/client"
NO_CACHE = {"Cache-Control": "no-cache"}


async def redirect(request: web.Request) -> web.StreamResponse:
    query = f"?{request.query_string}" if request.query_string else ""
    raise web.HTTPFound(f"{PREFIX}/{query}")


async def index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC_DIR / "index.html", headers=NO_CACHE)


def setup(app: web.Application) -> None:
    app.router.add_get(PREFIX, redirect)
    app.router.add_get(f"{PREFIX}/", index)
    app.router.add_static(PREFIX, STATIC_DIR)
