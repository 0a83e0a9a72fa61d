"""Keep tokens and secrets out of logs, reprs and exception text.

Two layers, because neither is enough alone: known secret values (registered by whoever
holds them: token providers, credentials, TURN passwords) are replaced wherever they appear,
and well-known shapes (JWTs, ``Bearer ...``, ``access_token=...``, ``"password": "..."``)
are replaced even when nobody registered them, e.g. a token echoed back by a server.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict

__all__ = [
    "REDACTED",
    "RedactingFilter",
    "forget_secret",
    "install_redaction",
    "redact",
    "register_secret",
]

REDACTED = "[REDACTED]"

# Values shorter than this are not registered: replacing "1" or "ab" everywhere would
# mangle logs without protecting anything worth protecting.
_MIN_SECRET_LENGTH = 6
# Long-running agents refresh tokens for hours; the registry keeps the newest values only.
_MAX_SECRETS = 512

_SECRET_KEYS = (
    r"access_token|refresh_token|id_token|client_secret|password|passwd|secret|"
    r"turnPassword|turn_password|credential|signature|authorization|ticket|token"
)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}")
# "key": "value" (JSON) and key='value' (Python reprs).
_QUOTED = re.compile(
    r"""(?i)(["']?(?:""" + _SECRET_KEYS + r""")["']?\s*[:=]\s*)(["'])(.*?)(?<!\\)\2"""
)
# key=value in query strings and form bodies.
_UNQUOTED = re.compile(r"(?i)\b((?:" + _SECRET_KEYS + r")=)([^&\s\"',;)}\]]+)")

_lock = threading.Lock()
_secrets: OrderedDict[str, None] = OrderedDict()
_secret_order: tuple[str, ...] | None = None
"""The registered secrets, longest first (so a secret containing another is replaced whole).
Replaced as plain strings, not one regular expression of them all: each renewal would compile
a new one, and `re` keeps its last 512 compiled patterns, so a long run with faults kept
megabytes of them (`tests/test_redact_memory.py`)."""


def register_secret(value: str | None) -> None:
    """Remember a secret value so that ``redact`` hides it wherever it appears."""
    global _secret_order
    if not value or len(value) < _MIN_SECRET_LENGTH:
        return
    with _lock:
        _secrets[value] = None
        _secrets.move_to_end(value)
        while len(_secrets) > _MAX_SECRETS:
            _secrets.popitem(last=False)
        _secret_order = None


def forget_secret(value: str | None) -> None:
    """Drop a value registered earlier (mostly for tests)."""
    global _secret_order
    if not value:
        return
    with _lock:
        if _secrets.pop(value, 0) is None:
            _secret_order = None


def _known_secrets() -> tuple[str, ...]:
    global _secret_order
    with _lock:
        if _secret_order is None:
            _secret_order = tuple(sorted(_secrets, key=len, reverse=True))
        return _secret_order


def redact(text: str) -> str:
    """Return ``text`` with registered secrets and secret-shaped substrings replaced."""
    if not text:
        return text
    for secret in _known_secrets():
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _JWT.sub(REDACTED, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _QUOTED.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}{m.group(2)}", text)
    return _UNQUOTED.sub(lambda m: f"{m.group(1)}{REDACTED}", text)


class RedactingFilter(logging.Filter):
    """Logging filter that renders a record's message and traceback, then redacts them.

    Attach it to handlers (``install_redaction`` does so for the root logger's handlers and
    for records created anywhere, through the record factory).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_record(record)
        return True


def _redact_record(record: logging.LogRecord) -> None:
    if getattr(record, "_auvious_redacted", False):
        return
    try:
        message = record.getMessage()
    except Exception:  # a broken format string must not hide the record
        message = f"{record.msg!s} {record.args!r}"
    record.msg = redact(message)
    record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    record._auvious_redacted = True


_installed = False


def install_redaction() -> None:
    """Redact every log record of the process, whichever logger or handler it goes to.

    Wraps the log record factory so that records are redacted when created (handlers added
    later are covered too), and is idempotent.
    """
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _redact_record(record)
        return record

    logging.setLogRecordFactory(factory)
