"""Errors a handler raises, and the middleware that turns every failure into a JSON answer.

Handlers raise `ApiError` (or a subclass) and never build error responses themselves, so every
error body has one shape: `{"status": 404, "error": "Not Found", "message": "..."}` (the shape
of the real platform's Spring error body, with `message` the part clients show).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from aiohttp import web
from pydantic import ValidationError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """A request the platform refuses; `message` goes to the client, so it never holds secrets."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class BadRequest(ApiError):
    def __init__(self, message: str):
        super().__init__(400, message)


class Unauthorized(ApiError):
    def __init__(self, message: str):
        super().__init__(401, message, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ApiError):
    def __init__(self, message: str):
        super().__init__(403, message)


class NotFound(ApiError):
    def __init__(self, message: str):
        super().__init__(404, message)


class Conflict(ApiError):
    def __init__(self, message: str):
        super().__init__(409, message)


def validation_message(exc: ValidationError) -> str:
    """One line naming each offending field by its wire path (`iceCandidates.0.sdpMid: ...`)."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        path = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{path}: {err['msg']}")
    return "; ".join(parts)


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Error"
    return web.json_response(
        {"status": status, "error": reason, "message": message}, status=status, headers=headers
    )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.message, exc.headers)
    except ValidationError as exc:
        return error_response(400, validation_message(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 404:
            message = f"no such resource: {request.method} {request.path}"
        elif exc.status == 405:
            message = f"method {request.method} is not allowed on {request.path}"
        else:
            message = exc.text or exc.reason
            if message.startswith(f"{exc.status}: "):
                message = message[len(f"{exc.status}: ") :]
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        return error_response(exc.status, message, headers)
    except Exception:
        # The path (not the query: signed URLs carry signatures there) and the traceback; our
        # exception texts never hold secrets, and the client only learns that it failed.
        log.exception("%s %s failed", request.method, request.rel_url.raw_path)
        return error_response(500, f"internal error while handling {request.method} {request.path}")
