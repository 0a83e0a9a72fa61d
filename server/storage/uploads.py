"""Reading multipart uploads (snapshots, file transfers, assets) within size limits.

The body is streamed part by part and abandoned as soon as a part grows past its limit, so an
oversized upload costs at most the limit in memory, never the whole body.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import BaseModel

from server.errors import ApiError, BadRequest

M = TypeVar("M", bound=BaseModel)

MAX_FIELD_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A file part. ``filename`` and ``content_type`` are what the client claimed: display only."""

    data: bytes
    filename: str | None
    content_type: str | None

    def __repr__(self) -> str:
        return f"UploadedFile({len(self.data)} bytes, {self.filename!r}, {self.content_type!r})"


@dataclass(slots=True)
class MultipartForm:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, UploadedFile] = field(default_factory=dict)

    def file(self, name: str) -> UploadedFile:
        found = self.files.get(name)
        if found is None:
            raise BadRequest(f"{name}: a file part is required")
        if not found.data:
            raise BadRequest(f"{name}: the file is empty")
        return found


@dataclass(frozen=True, slots=True)
class Form(Generic[M]):
    """A multipart body as a handler gets it: the text fields validated as ``M``, the files."""

    fields: M
    upload: MultipartForm

    def file(self, name: str) -> UploadedFile:
        return self.upload.file(name)


async def read_form(request: web.Request, model: type[M], files: Mapping[str, int]) -> Form[M]:
    """A multipart body: ``files`` (name -> byte limit) as bytes, the other parts as ``model``."""
    upload = await read_multipart(request, files)
    return Form(model.model_validate(upload.fields), upload)


async def read_multipart(request: web.Request, files: Mapping[str, int]) -> MultipartForm:
    """Read a ``multipart/form-data`` body: ``files`` (name -> byte limit) as bytes, the rest as
    text fields."""
    if request.content_type != "multipart/form-data":
        raise BadRequest(
            f"{request.method} {request.path} needs a multipart/form-data body, "
            f"got {request.content_type or 'no content type'}"
        )
    form = MultipartForm()
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or not part.name:
                raise BadRequest("multipart body has a part without a name")
            name = part.name
            if name in form.fields or name in form.files:
                raise BadRequest(f"{name}: given more than once")
            if name in files:
                data = await _read_limited(part, files[name], name, status=413)
                form.files[name] = UploadedFile(
                    data, part.filename, part.headers.get("Content-Type")
                )
            else:
                raw = await _read_limited(part, MAX_FIELD_BYTES, name, status=400)
                try:
                    form.fields[name] = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise BadRequest(f"{name}: not UTF-8 text") from None
    except (ValueError, AssertionError, HttpProcessingError) as exc:
        # aiohttp's reader raises these for a malformed body (bad boundary, truncated parts,
        # invalid part headers); the text names the problem, not the content.
        message = getattr(exc, "message", None) or str(exc)
        raise BadRequest(f"malformed multipart body: {message}".strip()) from None
    return form


async def _read_limited(part: BodyPartReader, limit: int, name: str, *, status: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await part.read_chunk(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise ApiError(status, f"{name}: larger than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def display_name(filename: str | None, limit: int = 200) -> str | None:
    """A client's file name made safe to show and to put in a Content-Disposition header:
    the last path component, without control characters, at most ``limit`` characters.
    It is a label only; content is stored under a generated name."""
    if not filename:
        return None
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c for c in base if c.isprintable()).strip()
    if cleaned in ("", ".", ".."):
        return None
    return cleaned[:limit]


def declared_content_type(declared: str | None) -> str:
    """The declared type if it looks like ``type/subtype``, else ``application/octet-stream``."""
    if declared:
        main = declared.partition(";")[0]
        kind, slash, sub = main.strip().lower().partition("/")
        token = set("abcdefghijklmnopqrstuvwxyz0123456789!#$&^_.+-")
        if slash and kind and sub and set(kind) <= token and set(sub) <= token:
            return f"{kind}/{sub}"
    return "application/octet-stream"
