"""CORS, so browser clients served from another origin can use `serve` directly.

Tokens travel in the Authorization header, never in cookies, so any origin may call: a page
still needs a token to do anything.
"""

from __future__ import annotations

from aiohttp import web

from server.errors import Handler

ALLOWED_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
EXPOSED_HEADERS = "Content-Disposition, X-Auvious-TransactionId, WWW-Authenticate"


@web.middleware
async def cors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    origin = request.headers.get("Origin")
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        requested = request.headers.get("Access-Control-Request-Headers", "")
        return web.Response(
            status=204,
            headers={
                "Access-Control-Allow-Origin": origin or "*",
                "Access-Control-Allow-Methods": ALLOWED_METHODS,
                "Access-Control-Allow-Headers": requested or "Authorization, Content-Type",
                "Access-Control-Max-Age": "600",
                "Vary": "Origin",
            },
        )
    response = await handler(request)
    if origin and not response.prepared:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        response.headers["Vary"] = "Origin"
    return response
