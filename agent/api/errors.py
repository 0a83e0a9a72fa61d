"""The one exception the API client raises, and how a server's error body becomes its message."""

from __future__ import annotations

import json
from typing import Any

from agent.redact import redact

__all__ = ["ApiError", "server_message"]

# Error bodies can be whole HTML pages; the first part says what went wrong.
_MAX_MESSAGE = 500
# What is kept of an error body for callers that inspect it (error codes, field lists).
_MAX_BODY = 8192


class ApiError(Exception):
    """A call to the platform failed: an HTTP error status, a dropped connection, a timeout,
    or a response that does not match the contract.

    ``status`` is the HTTP status, or ``None`` when no response arrived. Every text field is
    redacted, so the exception can be logged and shown as it is.
    """

    def __init__(
        self,
        *,
        operation: str,
        method: str,
        path: str,
        status: int | None,
        message: str,
        body: str | None = None,
        attempts: int = 1,
    ) -> None:
        self.operation = operation
        self.method = method
        self.path = path
        self.status = status
        self.message = redact(message)
        self.body = redact(body[:_MAX_BODY]) if body is not None else None
        self.attempts = attempts
        super().__init__(self._describe())

    @property
    def call(self) -> str:
        """The call as the contract names it, e.g. ``joinConference (POST /rtc-api/...)``."""
        return f"{self.operation} ({self.method} {self.path})"

    def _describe(self) -> str:
        outcome = f"HTTP {self.status}" if self.status is not None else "no response"
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        return f"{self.call} failed{tries}: {outcome}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"ApiError(operation={self.operation!r}, method={self.method!r}, "
            f"path={self.path!r}, status={self.status!r}, message={self.message!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only __init__: teach pickle (multiprocessing, pytest-xdist) to rebuild it.
        return (_rebuild, (self.__dict__.copy(),))


def _rebuild(state: dict[str, Any]) -> ApiError:
    error = ApiError.__new__(ApiError)
    error.__dict__.update(state)
    Exception.__init__(error, error._describe())
    return error


def server_message(body: bytes, content_type: str | None, reason: str | None = None) -> str:
    """The server's own words about an error.

    The platform answers errors as ``{"message": ...}`` (Spring), ``{"error_description":
    ...}`` (OAuth) or ``{"error": ...}``; anything else is shown as text, shortened.
    """
    text = body.decode("utf-8", errors="replace").strip()
    looks_json = "json" in (content_type or "") or text.startswith(("{", "[", '"'))
    if text and looks_json:
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        found = _message_from_json(parsed)
        if found:
            return _shorten(found)
    if text:
        return _shorten(text)
    return reason or "(empty response)"


def _message_from_json(parsed: object) -> str | None:
    if isinstance(parsed, str):
        return parsed
    if not isinstance(parsed, dict):
        return None
    for key in ("message", "error_description", "errorDescription", "detail", "error"):
        value = parsed.get(key)
        if isinstance(value, str) and value:
            return value
    errors = parsed.get("errors")
    if isinstance(errors, list) and errors:
        return "; ".join(str(e) for e in errors)
    # An unknown JSON shape (seed 002's 400 body is a map of strings): show it all.
    return json.dumps(parsed, separators=(",", ":"))


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"
