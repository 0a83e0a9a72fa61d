"""What the HTTP layer writes to the log about requests, safe against what callers send.

A caller controls the request path and line, so nothing of theirs reaches the log decoded: the
access log writes the path as it came on the wire (percent-encoded: a `%0A` stays `%0A`, it
cannot start a forged line), and a malformed HTTP request is one INFO line naming the problem,
not an ERROR with a traceback (it is the caller's mistake, not the platform's).
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web import BaseRequest, StreamResponse


def logged_path(request: BaseRequest) -> str:
    """The path as sent (percent-encoded), without the query: signed URLs carry signatures
    there."""
    return request.rel_url.raw_path


class PathAccessLogger(AbstractAccessLogger):
    """Method, path, status and time, never the query."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s %.3fs", request.method, logged_path(request), response.status, time
        )


class ServerLogger(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's request-handler logger: a malformed request (bad request line, header or
    body framing) becomes one INFO line; every other failure keeps its traceback."""

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        failure = kwargs.get("exc_info")
        if isinstance(failure, HttpProcessingError):
            reason = failure.message.strip().splitlines()[0] if failure.message else ""
            self.info("malformed HTTP request (%s): %r", failure.code, reason[:200])
            return
        super().exception(msg, *args, **kwargs)


def server_logger() -> ServerLogger:
    return ServerLogger(logging.getLogger("aiohttp.server"), {})
