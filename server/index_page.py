"""`GET /`: where a person or a tool that opens the platform's address finds the way on.

A browser (its Accept names text/html) gets a small page with links; anything else gets the
same map as JSON: the `/client/` page, the REST API and its OpenAPI document, the token
endpoint and the event channel."""

from __future__ import annotations

from html import escape

from aiohttp import web

from server.auth.routes import TOKEN_PATH
from server.broker import WS_PATH
from server.client_page import PREFIX as CLIENT_PREFIX
from server.openapi import API_PREFIX, DOCUMENT_PATH

LINKS: dict[str, tuple[str, str]] = {
    "client_page": (f"{CLIENT_PREFIX}/", "the browser client: join a conference from a browser"),
    "openapi": (DOCUMENT_PATH, "the OpenAPI 3.1 document of every route"),
    "api": (API_PREFIX, "the RTC REST API (bearer token)"),
    "token_endpoint": (TOKEN_PATH, "the OAuth token endpoint"),
    "event_channel": (WS_PATH, "the event channel: MQTT over WebSocket"),
}
NAME = "Auvious platform (local, auvious-agent)"


async def index(request: web.Request) -> web.StreamResponse:
    if "text/html" in request.headers.get("Accept", ""):
        items = "\n".join(
            f'<li><a href="{escape(path)}">{escape(path)}</a>: {escape(text)}</li>'
            for path, text in LINKS.values()
        )
        page = (
            f"<!doctype html>\n<html><head><meta charset=utf-8><title>{escape(NAME)}</title>"
            f"</head>\n<body><h1>{escape(NAME)}</h1>\n<ul>\n{items}\n</ul></body></html>\n"
        )
        return web.Response(text=page, content_type="text/html")
    return web.json_response({"name": NAME, **{key: path for key, (path, _) in LINKS.items()}})


def setup(app: web.Application) -> None:
    app.router.add_get("/", index)
