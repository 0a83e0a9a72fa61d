"""Signed download URLs: ``/rtc-api/{kind}/signed/{id}/{expiration}?signature=...``, and the
Composition/Recorder APIs' player URLs, ``{path}?Date=...&Expires=...&Signature=...``.

A signed URL is a bearer capability: whoever holds it may download that one record's content
until it expires, without a token (it is meant for ``<img src>`` and plain downloads). The
signature is an HMAC-SHA256 over the kind, the id and the expiration (epoch milliseconds), keyed
with a secret kept in the data directory so URLs stay valid across a restart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

KEY_FILE = "url-signing.key"
DEFAULT_TTL_SECONDS = 15 * 60
SIGNED_KINDS = frozenset({"snapshots", "filetransfers", "assets"})
_EPOCH_MS = re.compile(r"[0-9]{1,15}", re.ASCII)
"""ASCII digits only: `str.isdigit()` also takes '³', which `int()` then refuses."""


class SignatureError(Exception):
    """The URL's signature does not match, or it has expired (the message says which)."""


@dataclass(frozen=True, slots=True)
class SignedPath:
    path: str
    valid_until: datetime


class UrlSigner:
    def __init__(self, key: bytes, *, clock: Callable[[], float] = time.time) -> None:
        if len(key) < 32:
            raise ValueError("URL signing key must be at least 32 bytes")
        self._key = key
        self._clock = clock

    def __repr__(self) -> str:
        return "UrlSigner(key=<hidden>)"

    @classmethod
    def from_data_dir(cls, data_dir: Path) -> UrlSigner:
        """Load the data directory's signing key, creating it on first start."""
        return cls(data_dir_key(data_dir, KEY_FILE))

    def sign(
        self,
        kind: str,
        record_id: str,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        *,
        signed_id: str | None = None,
    ) -> SignedPath:
        """A path naming ``record_id``; the signature covers ``signed_id`` (by default the same),
        so an id its organization chose is bound to that organization's record."""
        _check_kind(kind)
        expiration = int((self._clock() + ttl_seconds) * 1000)
        signature = self._mac(kind, signed_id or record_id, expiration)
        path = (
            f"/rtc-api/{kind}/signed/{quote(record_id, safe='')}/{expiration}?signature={signature}"
        )
        return SignedPath(path, datetime.fromtimestamp(expiration / 1000, UTC))

    def verify(self, kind: str, record_id: str, expiration: str, signature: str) -> None:
        """Raise :class:`SignatureError` unless the signature is ours and has not expired."""
        _check_kind(kind)
        if not _EPOCH_MS.fullmatch(expiration):
            raise SignatureError(f"expiration {expiration!r} is not a time in epoch milliseconds")
        expected = self._mac(kind, record_id, int(expiration))
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise SignatureError(MISMATCH)
        if int(expiration) < self._clock() * 1000:
            raise SignatureError("signed URL has expired")

    def _mac(self, kind: str, record_id: str, expiration: int) -> str:
        message = f"{kind}\n{record_id}\n{expiration}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def sign_path(
        self, path: str, ttl_seconds: int = DEFAULT_TTL_SECONDS
    ) -> tuple[dict[str, str], datetime]:
        """The query (``Date``, ``Expires``, ``Signature``) that makes a GET of ``path`` a
        capability until ``Expires`` (epoch seconds, as in the seed's example URL), and that
        instant. The whole path is signed, so ids, file name and disposition are bound."""
        date = int(self._clock())
        expires = date + ttl_seconds
        signature = self._path_mac(path, date, expires)
        query = {"Date": str(date), "Expires": str(expires), "Signature": signature}
        return query, datetime.fromtimestamp(expires, UTC)

    def verify_path(self, path: str, date: str, expires: str, signature: str) -> None:
        """Raise :class:`SignatureError` unless ``Signature`` is ours for this exact path and
        ``Date - 5 min <= now < Expires`` (at most `MAX_PATH_TTL_SECONDS` apart)."""
        if not (date.isdigit() and expires.isdigit() and len(date) <= 12 and len(expires) <= 12):
            raise SignatureError("Date and Expires must be epoch seconds")
        signed_at, until = int(date), int(expires)
        expected = self._path_mac(path, signed_at, until)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise SignatureError("signature does not match this URL")
        now = self._clock()
        if until - signed_at > MAX_PATH_TTL_SECONDS or signed_at - CLOCK_SKEW_SECONDS > now:
            raise SignatureError("signed URL has an invalid validity window")
        if now >= until:
            raise SignatureError("signed URL has expired")

    def _path_mac(self, path: str, date: int, expires: int) -> str:
        message = f"GET\n{path}\n{date}\n{expires}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


MISMATCH = "signature does not match this URL"
MAX_PATH_TTL_SECONDS = 7 * 24 * 3600
CLOCK_SKEW_SECONDS = 300


def _check_kind(kind: str) -> None:
    if kind not in SIGNED_KINDS:
        raise ValueError(f"no signed URLs for {kind!r}")


def data_dir_key(data_dir: Path, name: str) -> bytes:
    """A 32-byte secret kept in the data directory (mode 0600), created on first use, so what
    it signs stays valid across restarts."""
    path = data_dir / name
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    key = secrets.token_bytes(32)
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key
