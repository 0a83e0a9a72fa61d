"""Signed URLs as HTTP: creating them for a caller, and the token-free download routes.

Snapshots, file transfers and assets share this one piece: each domain says only how to find
the content of a record id (``Resolver``), and gets the same signature checks, status codes and
safe response headers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from agent.api.models.common import SignedDownloadQuery, SignedUrl
from server.auth.middleware import public
from server.errors import Forbidden, NotFound
from server.openapi import operation
from server.signing import DEFAULT_TTL_SECONDS, MISMATCH, SignatureError
from server.storage import Storage, storage_of


@dataclass(frozen=True, slots=True)
class Content:
    """Where a record's bytes are and how to present them."""

    path: Path
    content_type: str
    filename: str | None = None
    attachment: bool = True
    """Download rather than display: anything that is not a checked image is an attachment,
    so a transferred HTML file can never run as a page of this origin."""


Resolver = Callable[[Storage, str], Content | None]
SignedIds = Callable[[Storage, str], list[str]]
"""The ids a signature for a path's id may cover (an organization's record of an id that
several organizations chose); by default the path's id itself."""


def signed_url(
    request: web.Request,
    kind: str,
    record_id: str,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    *,
    signed_id: str | None = None,
) -> SignedUrl:
    """An absolute URL on the host the caller reached us by (the Referer is not trusted)."""
    signed = storage_of(request).signer.sign(kind, record_id, ttl_seconds, signed_id=signed_id)
    return SignedUrl(url=f"{request.url.origin()}{signed.path}", valid_until=signed.valid_until)


def download_route(
    app: web.Application,
    kind: str,
    id_param: str,
    resolve: Resolver,
    signed_ids: SignedIds | None = None,
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Add ``GET /rtc-api/{kind}/signed/{id}/{expiration}?signature=`` (no token needed)."""

    @operation(
        f"Download a {kind} record's content; the signature is the credential",
        response=bytes,
        errors=(400, 403, 404),
    )
    @public
    async def download(request: web.Request, query: SignedDownloadQuery) -> web.StreamResponse:
        record_id = request.match_info[id_param]
        signature = query.signature
        if not signature:
            raise Forbidden("query parameter 'signature' is empty")
        storage = storage_of(request)
        candidates = (signed_ids(storage, record_id) if signed_ids else []) or [record_id]
        signed = _verified(storage, kind, candidates, request.match_info["expiration"], signature)
        content = resolve(storage, signed)
        if content is None or not content.path.is_file():
            raise NotFound(f"{kind} {record_id} has no content (deleted or discarded)")
        return content_response(content)

    app.router.add_get(f"/rtc-api/{kind}/signed/{{{id_param}}}/{{expiration}}", download)
    return download


def _verified(
    storage: Storage, kind: str, candidates: list[str], expiration: str, signature: str
) -> str:
    """The candidate the signature covers; 403 with the most telling reason otherwise (an
    expired URL over one that matches nothing)."""
    reason = MISMATCH
    for candidate in candidates:
        try:
            storage.signer.verify(kind, candidate, expiration, signature)
        except SignatureError as exc:
            reason = str(exc) if str(exc) != MISMATCH else reason
            continue
        return candidate
    raise Forbidden(reason)


def content_response(content: Content) -> web.FileResponse:
    headers = {
        "Content-Type": content.content_type,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, max-age=60",
    }
    disposition = "attachment" if content.attachment else "inline"
    if content.filename:
        disposition += f"; filename*=UTF-8''{quote(content.filename, safe='')}"
    headers["Content-Disposition"] = disposition
    return web.FileResponse(content.path, headers=headers)
