"""Reading requests and writing responses with the shared wire models.

One place decides how a body is read, so every route gives the same 400 for the same mistake.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any, TypeVar, get_args, get_origin

from aiohttp import web
from pydantic import BaseModel

from agent.api.models.base import RESOURCE_ID_PATTERN, WireModel
from server.errors import ApiError, BadRequest, NotFound

M = TypeVar("M", bound=BaseModel)


_SURROGATE_ESCAPE = re.compile(rb"\\[uU][dD][89a-fA-F]")
_CALLER_ID = re.compile(r"[^/+#\s]{1,200}")
_RESOURCE_ID = re.compile(RESOURCE_ID_PATTERN)
_RESERVED_IDS = frozenset({"attachment", "inline"})
"""`CALLER_ID_PATTERN` once the platform has filled in an empty id."""


MAX_JSON_BYTES = 1024 * 1024
"""Largest JSON request body (uploads are multipart and have their own limits)."""
MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects a JSON body may have (`docs/platform.md`, limits)."""


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text[:20]}... is beyond the range of a double")
    return value


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _depth(data: Any) -> int:
    """Nesting depth of decoded JSON, without recursion (so any depth can be measured)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            items = value.values() if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items if isinstance(item, dict | list))
    return deepest


def loads(raw: bytes | str) -> Any:
    """JSON as the platform accepts it: finite numbers, integers Python reads (at most 4300
    digits; integer fields state their own range), nesting at most `MAX_JSON_DEPTH` deep;
    anything else is a `BadRequest` saying which limit."""
    try:
        data = json.loads(raw, parse_float=_finite, parse_constant=_constant)
    except RecursionError:
        raise BadRequest(f"JSON nested deeper than the limit of {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError and the parse_* refusals
        raise BadRequest(f"request body is not valid JSON: {exc}") from None
    if _depth(data) > MAX_JSON_DEPTH:
        raise BadRequest(f"JSON nested deeper than the limit of {MAX_JSON_DEPTH} levels")
    return data


async def read_json(request: web.Request) -> Any:
    """The decoded JSON body; 400 when it is missing, not JSON or beyond the limits."""
    if (request.content_length or 0) > MAX_JSON_BYTES:
        raise _too_large()
    raw = await request.read()
    if len(raw) > MAX_JSON_BYTES:
        raise _too_large()
    if not raw.strip():
        raise BadRequest(f"{request.method} {request.path} needs a JSON body")
    data = loads(raw)
    if _SURROGATE_ESCAPE.search(raw):
        # JSON lets `\ud800` stand alone; no Unicode text (SQLite, UTF-8 files) can hold it.
        try:
            json.dumps(data, ensure_ascii=False).encode()
        except UnicodeEncodeError:
            raise BadRequest("request body holds a lone UTF-16 surrogate escape") from None
    return data


def _too_large() -> ApiError:
    return ApiError(413, f"JSON request body over the limit of {MAX_JSON_BYTES} bytes")


def check_caller_id(field: str, value: str) -> str:
    """An id the caller chose: it becomes a URL path segment and an MQTT topic level, so no
    '/', MQTT wildcard or whitespace, and at most 200 characters."""
    if not _CALLER_ID.fullmatch(value):
        raise BadRequest(f"{field}: 1-200 characters, no '/', '+', '#' or whitespace")
    return value


def check_path_copies(copies: Iterable[tuple[str, str | None, str]]) -> None:
    """The seeds' query copies of a path's ids (Spring's command objects), each given as
    (query name, query value, path value): the path decides, and a copy naming another id
    names nothing there (404, like any id that is not there)."""
    for name, given, path_value in copies:
        if given is not None and given != path_value:
            raise NotFound(f"{name} {given} in the query is not {path_value} of the path")


def check_resource_id(field: str, value: str) -> str:
    """An id a caller names a stored resource by (a recording's conversationId, a storage
    applicationId): a path segment of the Recorder and Composition APIs, so URL-safe, and
    never `attachment` or `inline`, which the signed routes' paths would mistake it for."""
    if not _RESOURCE_ID.fullmatch(value) or value in _RESERVED_IDS:
        raise BadRequest(
            f"{field}: 1-128 letters, digits, '.', '_', ':' or '-', starting with a letter or "
            "digit, and not 'attachment' or 'inline'"
        )
    return value


async def parse_body(request: web.Request, model: type[M]) -> M:
    """The JSON body validated as `model`; a ValidationError becomes a 400 naming the field."""
    data = await read_json(request)
    if not isinstance(data, dict):
        raise BadRequest(f"request body must be a JSON object, got {type(data).__name__}")
    return model.model_validate(data)


def read_query(request: web.Request, model: type[M]) -> M:
    """The query string validated as `model`: a parameter given more than once is a list where
    the field is one (`sort=a&sort=b`), else a 400 (which of two values was meant?)."""
    raw: dict[str, Any] = {}
    lists = _list_fields(model)
    fields = {info.alias or name for name, info in model.model_fields.items()}
    for name in request.query:
        values = request.query.getall(name)
        if name in lists:
            raw[name] = values
        elif len(values) > 1 and name in fields:
            raise BadRequest(f"{name}: given more than once")
        else:
            raw[name] = values[0]
    return model.model_validate(raw)


def _list_fields(model: type[BaseModel]) -> set[str]:
    names: set[str] = set()
    for name, info in model.model_fields.items():
        kinds = (info.annotation, *get_args(info.annotation))
        if any(get_origin(kind) is list for kind in kinds):
            names.update({name, info.alias or name})
    return names


def wire(value: Any) -> Any:
    """The JSON-ready form of a wire model (or a list of them); other values as they are."""
    if isinstance(value, list):
        return [wire(v) for v in value]
    if isinstance(value, WireModel):
        return value.to_wire()
    return value


def json_response(value: Any, status: int = 200) -> web.Response:
    return web.json_response(wire(value), status=status)


def no_content() -> web.Response:
    return web.Response(status=204)
