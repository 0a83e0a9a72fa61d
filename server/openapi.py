"""The OpenAPI 3.1 document at ``/rtc-api/openapi.json``, built from the shared wire models.

Handlers describe themselves with ``@operation(...)`` (summary, response, status, errors) and
their signature: a parameter ``body: Model`` is the JSON body, ``query: Model`` the query string,
``form: Form[Model]`` a multipart body. ``@operation`` reads those annotations once, so the model
a handler gets is the model the document states, named in one place, and the handler receives it
parsed (a 400 naming the field otherwise). The document walks the application's router, so a
route exists in the document if and only if it is served, and its schemas are the very models
the server validates with and the client parses with. Routes without ``@operation`` still
appear, with their path and method.
"""

from __future__ import annotations

import functools
import re
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, get_args, get_origin

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from server.auth.middleware import public
from server.errors import BadRequest, Handler
from server.http import parse_body, read_query
from server.storage.uploads import Form, read_form

_SPEC_ATTR = "__auvious_operation__"
InputHandler = Callable[..., Awaitable[web.StreamResponse]]
"""A handler taking the request and, by keyword, the inputs its signature names."""
API_PREFIX = "/rtc-api/"
API_PREFIXES = (API_PREFIX, "/rtc-recorder/api/", "/composition/api/")
"""The APIs the document describes: the RTC API, the Recorder API, the Composition API."""
DOCUMENT_PATH = f"{API_PREFIX}openapi.json"
_REF_TEMPLATE = "#/components/schemas/{model}"


@dataclass(frozen=True, slots=True)
class OperationSpec:
    summary: str
    body: type[BaseModel] | None = None
    form: type[BaseModel] | None = None
    """Text fields of a multipart body; ``files`` names its file parts."""
    files: Mapping[str, int] = field(default_factory=dict)
    """A multipart body's file parts: name -> largest size in bytes (413 beyond)."""
    query: type[BaseModel] | None = None
    response: Any = None
    """A model, ``list[Model]``, ``str`` (a bare JSON string), ``int``, ``dict`` (a string map),
    ``bytes`` (a download) or None."""
    status: int = 200
    headers: tuple[str, ...] = ()
    """Request headers the operation reads (``Referer``, ``X-Auvious-TransactionId``...)."""
    required_headers: tuple[str, ...] = ()
    """Request headers it cannot do without (the seeds' required ``Referer``): 400 if absent."""
    errors: tuple[int, ...] = (400, 401, 404)
    tag: str | None = None


def operation(
    summary: str, *, files: Mapping[str, int] | None = None, **details: Any
) -> Callable[[InputHandler], Handler]:
    """Describe a handler for the OpenAPI document (see :class:`OperationSpec`) and hand it the
    inputs its signature asks for: ``body``, ``query`` (models) and ``form`` (``Form[Model]``,
    with ``files`` naming the file parts and their limits)."""

    named = sorted(set(details) & set(_INPUTS))
    if named:
        raise TypeError(
            f"@operation({', '.join(f'{n}=...' for n in named)}): inputs come from the "
            "handler's signature, e.g. `async def handler(request, body: Model)`"
        )

    def mark(handler: InputHandler) -> Handler:
        inputs = _inputs(handler)
        form = inputs.get("form")
        spec = OperationSpec(
            summary,
            body=inputs.get("body"),
            query=inputs.get("query"),
            form=form,
            files=dict(files or {}),
            **details,
        )
        if form is None and spec.files:
            raise TypeError(f"{handler.__qualname__}: files= needs a 'form: Form[Model]' input")

        @functools.wraps(handler)
        async def with_inputs(request: web.Request) -> web.StreamResponse:
            given: dict[str, Any] = {}
            for header in spec.required_headers:
                if not request.headers.get(header):
                    raise BadRequest(f"header {header} is required")
            if spec.query is not None:
                given["query"] = read_query(request, spec.query)
            if spec.body is not None:
                given["body"] = await parse_body(request, spec.body)
            if spec.form is not None:
                given["form"] = await read_form(request, spec.form, spec.files)
            return await handler(request, **given)

        setattr(with_inputs, _SPEC_ATTR, spec)
        return with_inputs

    return mark


_INPUTS = ("body", "query", "form")


def _inputs(handler: InputHandler) -> dict[str, type[BaseModel]]:
    """The models a handler's ``body``/``query``/``form`` parameters are annotated with."""
    hints = typing.get_type_hints(handler)
    found: dict[str, type[BaseModel]] = {}
    for name in _INPUTS:
        hint = hints.get(name)
        if hint is None:
            continue
        if name == "form":
            if get_origin(hint) is not Form:
                raise TypeError(f"{handler.__qualname__}: 'form' must be Form[Model]")
            (hint,) = get_args(hint)
        if not (isinstance(hint, type) and issubclass(hint, BaseModel)):
            raise TypeError(f"{handler.__qualname__}: {name!r} must be a pydantic model")
        found[name] = hint
    return found


_PARAMETERS: dict[tuple[str, str], dict[str, Any]] = {}


def parameter_schema(location: str, name: str, schema: dict[str, Any]) -> None:
    """State what a path parameter or header (`location` "path" or "header") that the server
    checks accepts, once for every operation using it (e.g. the pattern of `assetId`)."""
    _PARAMETERS[(location, name)] = schema


def _parameter(location: str, name: str, required: bool) -> dict[str, Any]:
    schema = _PARAMETERS.get((location, name), {"type": "string"})
    return {"name": name, "in": location, "required": required, "schema": schema}


def setup(app: web.Application) -> None:
    app.router.add_get(DOCUMENT_PATH, openapi_json)


@public
async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(build_document(request.app))


def build_document(app: web.Application) -> dict[str, Any]:
    models: dict[str, type[BaseModel]] = {}
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if not path or not path.startswith(API_PREFIXES) or route.method in ("HEAD", "*"):
            continue
        spec: OperationSpec | None = getattr(route.handler, _SPEC_ATTR, None)
        is_public = getattr(route.handler, "__auvious_public__", False)
        paths.setdefault(path, {})[route.method.lower()] = _operation(
            path, route.method, spec, is_public, models
        )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Auvious RTC API (local platform)",
            "version": "1.9.18",
            "description": "The local implementation of the Auvious RTC API served by "
            "auvious-agent; schemas are the shared wire models.",
        },
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": _schemas(models),
            "securitySchemes": {
                "BearerToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "OAuth2ClientCredentials": {
                    "type": "oauth2",
                    "flows": {
                        "clientCredentials": {"tokenUrl": "/security/oauth/token", "scopes": {}}
                    },
                },
            },
        },
    }


def _operation(
    path: str,
    method: str,
    spec: OperationSpec | None,
    is_public: bool,
    models: dict[str, type[BaseModel]],
) -> dict[str, Any]:
    prefix = next(p for p in API_PREFIXES if path.startswith(p))
    segments = [s for s in path.removeprefix(prefix).split("/") if s]
    if prefix != API_PREFIX:
        segments = [prefix.strip("/").split("/")[0], *segments]
    op: dict[str, Any] = {
        "operationId": _operation_id(method, segments),
        "tags": [spec.tag if spec and spec.tag else segments[0]],
        "parameters": [_parameter("path", name, True) for name in re.findall(r"{(\w+)}", path)],
    }
    if not is_public:
        op["security"] = [{"BearerToken": []}, {"OAuth2ClientCredentials": []}]
    if spec is None:
        op["responses"] = {"default": {"description": "see the Auvious RTC API documents"}}
        return op
    op["summary"] = spec.summary
    if spec.query is not None:
        op["parameters"] += _query_parameters(spec.query, models)
    op["parameters"] += [_parameter("header", h, False) for h in spec.headers]
    op["parameters"] += [_parameter("header", h, True) for h in spec.required_headers]
    if spec.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(spec.body, models)}},
        }
    elif spec.form is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"multipart/form-data": {"schema": _form_schema(spec, models)}},
        }
    responses: dict[str, Any] = {str(spec.status): _response(spec, models)}
    errors = spec.errors if is_public else (*spec.errors, 401)
    for status in sorted(set(errors)):
        responses[str(status)] = {
            "description": HTTPStatus(status).phrase,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
    op["responses"] = responses
    return op


def _response(spec: OperationSpec, models: dict[str, type[BaseModel]]) -> dict[str, Any]:
    described: dict[str, Any] = {"description": HTTPStatus(spec.status).phrase}
    shape = spec.response
    if shape is None or spec.status == 204:
        return described
    if shape is bytes:
        schema: dict[str, Any] = {"type": "string", "format": "binary"}
        described["content"] = {"application/octet-stream": {"schema": schema}}
        return described
    if shape is str:
        schema = {"type": "string"}
    elif shape is int:
        schema = {"type": "integer"}
    elif shape is dict:
        schema = {"type": "object", "additionalProperties": {"type": "string"}}
    elif get_origin(shape) is list:
        (item,) = get_args(shape)
        schema = {"type": "array", "items": _ref(item, models)}
    else:
        schema = _ref(shape, models)
    described["content"] = {"application/json": {"schema": schema}}
    return described


def _ref(model: type[BaseModel], models: dict[str, type[BaseModel]]) -> dict[str, Any]:
    models[model.__name__] = model
    return {"$ref": _REF_TEMPLATE.format(model=model.__name__)}


def _form_schema(spec: OperationSpec, models: dict[str, type[BaseModel]]) -> dict[str, Any]:
    """The form model's text fields plus the file parts, which no wire model describes; no
    other parts (a part's name becomes a header value, so arbitrary names cannot travel).
    A file part is 1 byte up to its limit: an empty file is refused (`MultipartForm.file`)."""
    assert spec.form is not None
    models[spec.form.__name__] = spec.form  # its enums join the components
    fields = spec.form.model_json_schema(by_alias=True, ref_template=_REF_TEMPLATE)
    files = {
        name: {"type": "string", "format": "binary", "minLength": 1, "maxLength": limit}
        for name, limit in spec.files.items()
    }
    return {
        "type": "object",
        "properties": {**fields.get("properties", {}), **files},
        "required": [*fields.get("required", []), *spec.files],
        "additionalProperties": False,
    }


def _query_parameters(
    model: type[BaseModel], models: dict[str, type[BaseModel]]
) -> list[dict[str, Any]]:
    """One parameter per field; the model joins the components so that the shapes its fields
    refer to (enums) are defined there."""
    models[model.__name__] = model
    schema = model.model_json_schema(by_alias=True, ref_template=_REF_TEMPLATE)
    properties = {name: _no_null(prop) for name, prop in schema.get("properties", {}).items()}
    required = set(schema.get("required", []))
    if any(key in schema for key in _ACROSS_FIELDS):
        # A rule across parameters (two that exclude each other) has no per-parameter form:
        # one object parameter, sent as the usual `a=1&b=2`, carries the model's whole schema.
        whole = {key: value for key, value in schema.items() if key not in ("title", "description")}
        whole.update(properties=properties, additionalProperties=False)
        return [
            {
                "name": model.__name__,
                "in": "query",
                "required": False,
                "style": "form",
                "explode": True,
                "schema": whole,
            }
        ]
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in properties.items()
    ]


def _no_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or has a value: `X | None` is just `X` there."""
    options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    if len(options) == 1:
        rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
        return {**rest, **options[0]}
    return schema


_ACROSS_FIELDS = ("not", "anyOf", "oneOf", "allOf", "if")


def _schemas(models: dict[str, type[BaseModel]]) -> dict[str, Any]:
    unique = {m for m in models.values()}
    _, top = models_json_schema(
        [(m, "serialization") for m in sorted(unique, key=lambda m: m.__name__)],
        ref_template=_REF_TEMPLATE,
        by_alias=True,
    )
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    schemas["Error"] = {
        "type": "object",
        "description": "Every error answer: the HTTP status, its phrase and a message.",
        "properties": {
            "status": {"type": "integer"},
            "error": {"type": "string"},
            "message": {"type": "string"},
        },
    }
    return dict(sorted(schemas.items()))


def _operation_id(method: str, segments: list[str]) -> str:
    words = [method.lower()] + [s.strip("{}") for s in segments]
    return words[0] + "".join(w[:1].upper() + w[1:] for w in words[1:] if w)
