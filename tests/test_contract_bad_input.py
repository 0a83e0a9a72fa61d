"""Bad input to every route of the platform: always a 4xx with a JSON message, never a 500.

The table of routes, bodies, fields and query parameters is the platform's own OpenAPI
document, so a route added later is covered without editing this file. For each operation:
no token and a forged token (401), malformed JSON, a non-object body, each required field
missing and each field of the wrong type (400 naming the field), every query parameter of the
wrong type, and a well-typed request about ids nobody created (4xx naming nothing secret, or a
success where the operation creates what it names).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from server.embedded import EmbeddedServer
from tests.platform_support import FORGED_TOKEN, PlatformUser


@dataclass
class Operation:
    method: str
    path: str
    public: bool
    body: dict[str, Any] | None = None
    """The JSON body schema (resolved), None without one."""
    form: dict[str, Any] | None = None
    """The multipart schema's properties and required names, None without one."""
    query: list[dict[str, Any]] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    def url(self) -> str:
        """The path with every placeholder an id that does not exist."""
        return re.sub(
            r"{(\w+)}",
            lambda m: "4102444800" if m.group(1) == "expiration" else f"nosuch-{uuid.uuid4()}",
            self.path,
        )


class Document:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.schemas: dict[str, Any] = raw["components"]["schemas"]

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        """A schema with its `$ref` followed and `X | None` reduced to `X`."""
        if "$ref" in schema:
            return self.resolve(self.schemas[schema["$ref"].rsplit("/", 1)[1]])
        if "anyOf" in schema:
            options = [s for s in schema["anyOf"] if s.get("type") != "null"]
            if len(options) == 1:
                return self.resolve(options[0])
        if "allOf" in schema:
            merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
            for part in schema["allOf"]:
                resolved = self.resolve(part)
                merged["properties"].update(resolved.get("properties", {}))
                merged["required"] += resolved.get("required", [])
            return merged
        return schema

    def operations(self) -> Iterator[Operation]:
        for path, methods in self.raw["paths"].items():
            for method, spec in methods.items():
                operation = Operation(method.upper(), path, public="security" not in spec)
                content = spec.get("requestBody", {}).get("content", {})
                if "application/json" in content:
                    operation.body = self.resolve(content["application/json"]["schema"])
                elif "multipart/form-data" in content:
                    operation.form = self.resolve(content["multipart/form-data"]["schema"])
                operation.query = [p for p in spec.get("parameters", []) if p["in"] == "query"]
                yield operation

    def valid_value(self, schema: dict[str, Any]) -> Any:
        """A value of the right type (ids are fresh, so they name nothing that exists)."""
        schema = self.resolve(schema)
        if "enum" in schema:
            return schema["enum"][0]
        kind = schema.get("type")
        if kind == "integer":
            return max(int(schema.get("minimum", 1)), 1)
        if kind == "number":
            return 1.0
        if kind == "boolean":
            return True
        if kind == "array":
            return [self.valid_value(schema.get("items", {"type": "string"}))]
        if kind == "object":
            return {
                name: self.valid_value(prop)
                for name, prop in schema.get("properties", {}).items()
                if name in schema.get("required", [])
            }
        if schema.get("format") == "date-time":
            return "2026-01-01T00:00:00Z"
        return f"nosuch-{uuid.uuid4()}"

    def wrong_value(self, schema: dict[str, Any]) -> Any:
        """A value no reading of the schema accepts (None when the schema takes anything)."""
        schema = self.resolve(schema)
        kind = schema.get("type")
        if "enum" in schema or kind in ("string", "integer", "number", "boolean"):
            return {"not": "a scalar"}
        if kind in ("object", "array"):
            return "not a container" if kind == "array" else ["not", "an", "object"]
        return None

    def valid_body(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            name: self.valid_value(prop)
            for name, prop in schema.get("properties", {}).items()
            if name in schema.get("required", [])
        }


async def _document(http: aiohttp.ClientSession) -> Document:
    async with http.get("/rtc-api/openapi.json") as response:
        assert response.status == 200
        return Document(await response.json())


async def _send(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    token: str | None,
    **kwargs: Any,
) -> tuple[int, Any]:
    headers = dict(kwargs.pop("headers", {}))
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with http.request(method, url, headers=headers, **kwargs) as response:
        text = await response.text()
        try:
            body = await response.json(content_type=None) if text else None
        except ValueError:
            body = text
        return response.status, body


class Findings:
    """Every answer that breaks the rules, gathered so that one run reports them all."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.checked = 0

    def refused(
        self, what: str, status: int, body: Any, *, expect: tuple[int, ...], names: str = ""
    ) -> None:
        """A refusal: one of `expect`, a JSON body whose message names `names`."""
        self.checked += 1
        message = body.get("message") if isinstance(body, dict) else None
        if status not in expect:
            wanted = "a 4xx" if len(expect) > 5 else str(expect)
            self.problems.append(f"{what}: {status} (expected {wanted}) {body!r:.200}")
        elif not isinstance(message, str) or not message:
            self.problems.append(f"{what}: {status} without a JSON message: {body!r:.200}")
        elif names and names not in message:
            self.problems.append(f"{what}: message does not name {names!r}: {message!r:.200}")

    def handled(self, what: str, status: int, body: Any, ids: list[str]) -> None:
        """An answer that may be a success, but never a server error or a bare refusal; a 404
        names one of the unknown `ids` it was asked about."""
        if status >= 400:
            self.refused(what, status, body, expect=tuple(range(400, 500)))
            message = body.get("message", "") if isinstance(body, dict) else ""
            if status == 404 and not any(i in message for i in ids):
                self.problems.append(f"{what}: 404 names none of the ids: {message!r:.200}")
        else:
            self.checked += 1

    def assert_none(self) -> None:
        assert self.problems == [], "\n".join(self.problems)


async def test_no_token_or_a_forged_one_is_401_on_every_protected_route(
    server: EmbeddedServer, http: aiohttp.ClientSession
) -> None:
    document = await _document(http)
    findings = Findings()
    for operation in document.operations():
        if operation.public:
            continue
        for token in (None, FORGED_TOKEN):
            status, body = await _send(http, operation.method, operation.url(), token)
            findings.refused(f"{operation} token={token is not None}", status, body, expect=(401,))
    findings.assert_none()
    assert findings.checked >= 100


async def test_malformed_and_mistyped_bodies_are_400_naming_the_field(
    server: EmbeddedServer, http: aiohttp.ClientSession, agent: PlatformUser
) -> None:
    document = await _document(http)
    findings = Findings()
    token = agent.access_token
    json_headers = {"Content-Type": "application/json"}
    for operation in document.operations():
        if operation.body is None:
            continue
        url, method = operation.url(), operation.method
        for raw in ('{"conferenceId": ', "", "[1, 2]", '"text"', "\xff\xfe"):
            status, body = await _send(
                http, method, url, token, data=raw.encode("latin-1"), headers=json_headers
            )
            findings.refused(f"{operation} body={raw!r}", status, body, expect=(400,))
        valid = document.valid_body(operation.body)
        for name in operation.body.get("required", []):
            missing = {k: v for k, v in valid.items() if k != name}
            status, body = await _send(http, method, url, token, json=missing)
            findings.refused(f"{operation} without {name}", status, body, expect=(400,), names=name)
        for name, prop in operation.body.get("properties", {}).items():
            wrong = document.wrong_value(prop)
            if wrong is None:
                continue
            status, body = await _send(http, method, url, token, json={**valid, name: wrong})
            findings.refused(
                f"{operation} {name}={wrong!r}", status, body, expect=(400,), names=name
            )
    findings.assert_none()
    assert findings.checked >= 200


async def test_bad_multipart_bodies_are_400(
    server: EmbeddedServer, http: aiohttp.ClientSession, agent: PlatformUser
) -> None:
    document = await _document(http)
    findings = Findings()
    token = agent.access_token
    forms = [op for op in document.operations() if op.form is not None]
    assert len(forms) >= 4  # snapshot acquire and upload, file transfers, assets
    for operation in forms:
        url = operation.url()
        if "targetType" in {p["name"] for p in operation.query}:
            url += "?targetType=user"
        status, body = await _send(http, operation.method, url, token, json={"image": "x"})
        findings.refused(f"{operation} as JSON", status, body, expect=(400, 415))
        garbage = {"Content-Type": "multipart/form-data; boundary=xyz"}
        status, body = await _send(
            http, operation.method, url, token, data=b"--xyz\r\nbroken", headers=garbage
        )
        findings.refused(f"{operation} broken multipart", status, body, expect=(400,))
        empty = aiohttp.FormData(default_to_multipart=True)
        empty.add_field("unrelated", "value")
        status, body = await _send(http, operation.method, url, token, data=empty)
        findings.refused(f"{operation} without its fields", status, body, expect=(400,))
        message = body.get("message", "") if isinstance(body, dict) else ""
        required = operation.form.get("required", []) if operation.form else []
        if not any(name in message for name in required):
            findings.problems.append(f"{operation}: names none of {required}: {message!r}")
    findings.assert_none()


async def test_mistyped_and_missing_query_parameters_are_400_naming_them(
    server: EmbeddedServer, http: aiohttp.ClientSession, agent: PlatformUser
) -> None:
    document = await _document(http)
    findings = Findings()
    token = agent.access_token
    for operation in document.operations():
        if not operation.query or operation.public:
            continue
        valid = {
            p["name"]: str(document.valid_value(p["schema"])).lower()
            if isinstance(document.valid_value(p["schema"]), bool)
            else str(document.valid_value(p["schema"]))
            for p in operation.query
            if p.get("required")
        }
        for parameter in operation.query:
            name, schema = parameter["name"], document.resolve(parameter["schema"])
            if parameter.get("required"):
                query = {k: v for k, v in valid.items() if k != name}
                status, body = await _send(
                    http, operation.method, operation.url(), token, params=query
                )
                findings.refused(
                    f"{operation} without ?{name}", status, body, expect=(400,), names=name
                )
            if (
                "enum" in schema
                or schema.get("type") in ("integer", "boolean")
                or (schema.get("format") == "date-time")
            ):
                query = {**valid, name: "not-a-value%"}
                status, body = await _send(
                    http, operation.method, operation.url(), token, params=query
                )
                findings.refused(
                    f"{operation} ?{name}=not-a-value%", status, body, expect=(400,), names=name
                )
    findings.assert_none()
    assert findings.checked >= 10


@pytest.mark.parametrize("caller", ["agent", "service"])
async def test_well_typed_requests_about_unknown_ids_are_refused_cleanly(
    server: EmbeddedServer,
    http: aiohttp.ClientSession,
    agent: PlatformUser,
    service: PlatformUser,
    caller: str,
) -> None:
    document = await _document(http)
    findings = Findings()
    user = agent if caller == "agent" else service
    for operation in document.operations():
        if operation.form is not None:
            continue
        kwargs: dict[str, Any] = {}
        if operation.body is not None:
            kwargs["json"] = document.valid_body(operation.body)
        params = {
            p["name"]: document.valid_value(p["schema"]) for p in operation.query if p["required"]
        }
        kwargs["params"] = {
            k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in params.items()
        }
        url = operation.url()
        ids = re.findall(r"nosuch-[0-9a-f-]{36}", f"{url} {kwargs}")
        status, body = await _send(http, operation.method, url, user.access_token, **kwargs)
        findings.handled(f"{operation} as {caller}", status, body, ids)
    findings.assert_none()
    assert findings.checked >= 50


BAD_IDS = ["a/b", "room#1", "x+y", "with space", "", "i" * 201]


@pytest.mark.parametrize(
    ("path", "field", "body"),
    [
        ("/rtc-api/users/endpoints", "userEndpointId", {"keepAliveSeconds": 30}),
        ("/rtc-api/users/endpoints/register", "userEndpointId", {"keepAliveSeconds": 30}),
        ("/rtc-api/conferences/create", "conferenceId", {}),
        ("/rtc-api/interactions", "interactionId", {"type": "video"}),
    ],
)
async def test_ids_the_caller_chooses_must_fit_a_path_and_a_topic(
    server: EmbeddedServer, agent: PlatformUser, path: str, field: str, body: dict[str, Any]
) -> None:
    """Client-chosen ids become URL path segments and MQTT topic levels (`user/{sub}/{id}`)."""
    for bad in BAD_IDS:
        if not bad:  # an empty id means "choose one for me"
            created = await agent.call("POST", path, json={**body, field: bad})
            assert created
            continue
        answer = await agent.call("POST", path, json={**body, field: bad}, expect=400)
        assert answer["message"].startswith(f"{field}:"), answer


async def test_a_lone_surrogate_escape_is_400_not_500(
    server: EmbeddedServer, http: aiohttp.ClientSession, agent: PlatformUser
) -> None:
    raw = b'{"type": "video", "data": {"note": "\\ud800"}}'
    headers = {"Content-Type": "application/json"}
    status, body = await _send(
        http, "POST", "/rtc-api/interactions", agent.access_token, data=raw, headers=headers
    )
    assert (status, body["message"]) == (400, "request body holds a lone UTF-16 surrogate escape")
    paired = b'{"type": "video", "data": {"note": "\\ud83d\\ude00"}}'
    status, body = await _send(
        http, "POST", "/rtc-api/interactions", agent.access_token, data=paired, headers=headers
    )
    assert status == 200, body


async def test_a_page_beyond_any_listing_is_400(agent: PlatformUser) -> None:
    query = "start=2020-01-01T00:00:00Z&end=2030-01-01T00:00:00Z&page=99999999999999999999"
    body = await agent.call("GET", f"/rtc-api/interactions?{query}", expect=400)
    assert body["message"].startswith("page:")


async def test_a_filter_beyond_64_bits_is_a_400_naming_it(agent: PlatformUser) -> None:
    """The document states `maximum: 2^63-1` for these filters, and the server holds to it."""
    await agent.call("POST", "/rtc-api/interactions", json={"type": "video"})
    query = "start=2020-01-01T00:00:00Z&end=2100-01-01T00:00:00Z&onHoldDurationGt=" + "9" * 30
    body = await agent.call("GET", f"/rtc-api/interactions?{query}", expect=400)
    assert body["message"].startswith("onHoldDurationGt")
    query = query.replace("onHoldDurationGt", "onHoldDurationLt")
    body = await agent.call("GET", f"/rtc-api/interactions?{query}", expect=400)
    assert body["message"].startswith("onHoldDurationLt")


async def test_extreme_numbers_and_long_strings_never_cause_a_server_error(
    server: EmbeddedServer, http: aiohttp.ClientSession, agent: PlatformUser
) -> None:
    """Beyond 64 bits, negative, and long strings: refused or accepted, never a 500. (Query
    strings stay under aiohttp's 8 KiB request line, which its HTTP parser enforces itself.)"""
    document = await _document(http)
    findings = Findings()
    extremes: dict[str, list[Any]] = {"integer": [10**30, -(10**30)], "string": ["s" * 100_000]}
    query_extremes: dict[str, list[Any]] = {"integer": [10**30, -(10**30)], "string": ["s" * 4_000]}
    for operation in document.operations():
        if operation.public or operation.form is not None:
            continue
        url = operation.url()
        query = {
            p["name"]: document.valid_value(p["schema"]) for p in operation.query if p["required"]
        }
        query = {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in query.items()}
        body = document.valid_body(operation.body) if operation.body is not None else None
        for name, prop in (operation.body or {}).get("properties", {}).items():
            for value in extremes.get(document.resolve(prop).get("type", ""), []):
                assert body is not None
                status, answer = await _send(
                    http, operation.method, url, agent.access_token, json={**body, name: value}
                )
                findings.handled(f"{operation} {name}={str(value)[:12]}", status, answer, [])
        for parameter in operation.query:
            kind = document.resolve(parameter["schema"]).get("type", "")
            for value in query_extremes.get(kind, []):
                params = {**query, parameter["name"]: str(value)}
                status, answer = await _send(
                    http, operation.method, url, agent.access_token, json=body, params=params
                )
                findings.handled(f"{operation} ?{parameter['name']}", status, answer, [])
    # A 404 need not name an id here: the ids are not what this test varies.
    findings.problems = [p for p in findings.problems if "names none of the ids" not in p]
    findings.assert_none()
    assert findings.checked >= 50
