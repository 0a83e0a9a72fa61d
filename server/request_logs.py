"""What the HTTP layer writes to the log about requests, safe against what callers send.

A caller controls the request path and line, so nothing of theirs reaches the log decoded: the
access log writes the path as it came on the wire (percent-encoded: a `%0A` stays `%0A`, it
cannot start a forged line), and a malformed HTTP request is one INFO line naming the problem,
not an ERROR with a traceback (it is the caller's mistake, not the platform's). Libraries that
write caller text unquoted (amqtt: MQTT client ids and topics) get `OneLineFilter`.
"""

from __future__ import annotations

import logging
import sys
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


class OneLineFilter(logging.Filter):
    """Escapes whatever would carry a record's message onto a line of its own (newline,
    carriage return, U+2028, any other unprintable character) as a Python escape (`\\n`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: logging reports it itself
            return True
        if not message.isprintable():
            record.msg = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
            record.args = None
        return True


_ONE_LINE = OneLineFilter()


def keep_to_one_line(prefix: str) -> None:
    """Put `OneLineFilter` on the `prefix` logger and on every logger under it: those that
    exist, and one per module of that package loaded now (amqtt names its loggers after their
    module, some only when a connection comes; a logger's filters do not reach its children).
    Idempotent."""
    names = {prefix, *logging.Logger.manager.loggerDict, *sys.modules}
    for name in names:
        if name == prefix or name.startswith(prefix + "."):
            logging.getLogger(name).addFilter(_ONE_LINE)
