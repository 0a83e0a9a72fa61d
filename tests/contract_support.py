"""The seed documents read as data: every operation of seeds 002/001/000/003 with its parameters,
and the client's calls keyed the same way.

Contract tests compare the server's routes, its OpenAPI document and the client's calls with
this list, so a new or renamed endpoint in the seeds shows up as a failing test rather than
being remembered by hand.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass, field
from pathlib import Path

import agent.api.endpoints
from agent.api.http import Call

SEEDS_DIR = Path(__file__).parent / "seeds"
SEED_FILES = ("002_*.txt", "001_*.txt", "000_*.txt", "003_*.txt", "004_*.txt")
"""The RTC API (002), newer interactions (001), newer ratings (000), the Composition API (003),
the Recorder API (004)."""
SEEDS_BY_VERSION = ("002_*.txt", "000_*.txt", "001_*.txt", "003_*.txt", "004_*.txt")
"""Oldest first: v1.9.5, v1.9.7, v1.9.18; then the Composition and Recorder APIs (their own
names)."""

_REQUEST_LINE = re.compile(r"^(GET|POST|PUT|DELETE|PATCH) (?:https?://[^/]+)?(/\S*) HTTP/1\.1$")
HOST_IN_PATH = "/auvious.video"
"""Seeds 003/004 render the host name into their paths (a doc bug): the real path follows it."""
SCHEMA_MODELS = {"Error": "RecorderError"}
"""Seed schemas whose wire model has another name (seed 004's `Error` is too generic)."""
NOT_BODIES = frozenset({"Resource", "InputStream"})
"""Spring's `Resource` bean described as a schema: the answer is really the file's bytes."""
# A row of a "Parameters" table: name, where, type, required, description; run together in
# seed 002, a markdown table in seeds 001 and 000 (and 003, without the leading pipe).
_PARAMETER = re.compile(r"^([A-Za-z][\w-]*?)(query|path|header|body)(\S*?)(true|false)")
_MARKDOWN_PARAMETER = re.compile(
    r"^\|?\s*([A-Za-z][\w.-]*)\s*\|\s*(query|path|header|body)\s*\|\s*([^|]*?)\s*\|\s*(true|false)\s*\|"
)


@dataclass
class SeedOperation:
    method: str
    path: str
    """The path without its query string, placeholders as written (`{id}`)."""
    body_type: str | None = None
    """The schema name of a JSON body, `object` for multipart bodies, None without a body."""
    query: set[str] = field(default_factory=set)
    headers: set[str] = field(default_factory=set)

    @property
    def shape(self) -> tuple[str, str]:
        return self.method, path_shape(self.path)


def path_shape(path: str) -> str:
    """A path with its placeholders blanked, so `{id}` and `{conferenceId}` compare equal."""
    return re.sub(r"{\w+}", "{}", path)


def seed_operations() -> dict[tuple[str, str], SeedOperation]:
    """Every operation of the seeds by `(method, path shape)`; parameters of an operation that
    appears in two seeds are merged (the newer seed adds filters)."""
    found: dict[tuple[str, str], SeedOperation] = {}
    for pattern in SEED_FILES:
        (seed,) = SEEDS_DIR.glob(pattern)
        current: SeedOperation | None = None
        for line in seed.read_text().splitlines():
            request = _REQUEST_LINE.match(line.strip())
            if request:
                method, target = request.groups()
                path = target.split("?", 1)[0].removeprefix(HOST_IN_PATH)
                operation = SeedOperation(method, path)
                current = found.setdefault(operation.shape, operation)
                continue
            parameter = _PARAMETER.match(line.strip()) or _MARKDOWN_PARAMETER.match(line.strip())
            if current is None or parameter is None:
                continue
            name, where, type_name, _ = parameter.groups()
            if where == "body":
                current.body_type = type_name
            elif where == "query":
                current.query.add(name)
            elif where == "header":
                current.headers.add(name)
    return found


@dataclass
class SeedSchema:
    name: str
    properties: dict[str, bool] = field(default_factory=dict)
    """Wire name -> required, as the seed's Properties table says."""
    enums: dict[str, set[str]] = field(default_factory=dict)
    """Wire name -> the values of its Enumerated Values table."""


_PRIMITIVES = r"string|integer|boolean|object|number|file|\[[^\]]*\]"
_ENUM_ROW = re.compile(r"^([a-z][A-Za-z0-9]*?)([A-Z0-9_]+)$")
# Seed 003 writes its schema tables as pipe tables: `name | type | required | ...` and
# `property | value |`.
_PIPE_ROW = re.compile(r"^([a-z][A-Za-z0-9_]*)\s*\|\s*[^|]+?\s*\|\s*(true|false)\s*\|")
_PIPE_ENUM_ROW = re.compile(r"^([a-z][A-Za-z0-9_]*)\s*\|\s*([A-Za-z0-9_]+)\s*\|$")


def seed_schemas() -> dict[str, SeedSchema]:
    """The Schemas sections of the seeds; a schema in a newer seed replaces the older one."""
    schemas: dict[str, SeedSchema] = {}
    for pattern in SEEDS_BY_VERSION:
        (seed,) = SEEDS_DIR.glob(pattern)
        lines = seed.read_text().splitlines()
        if "Schemas" not in lines:
            continue
        section = [line.strip() for line in lines[lines.index("Schemas") + 1 :]]
        names = {
            line
            for i, line in enumerate(section)
            if re.fullmatch(r"[A-Z][A-Za-z0-9]+", line)
            and line
            not in ("Properties", "PropertyValue", "NameTypeRequiredRestrictionsDescription")
            and next((n for n in section[i + 1 :] if n), "") in ("{", "Properties")
        }
        types = "|".join(sorted((re.escape(n) for n in names), key=len, reverse=True))
        row = re.compile(rf"^([a-z][A-Za-z0-9_]*?)({_PRIMITIVES}|{types})(\([^)]*\))?(true|false)")
        current: SeedSchema | None = None
        in_enums = False
        for line in section:
            if line in names:
                current = schemas[line] = SeedSchema(line)
                in_enums = False
            elif line in ("PropertyValue", "Property | Value |"):
                in_enums = True
            elif (
                current is not None
                and in_enums
                and (enum := _ENUM_ROW.match(line) or _PIPE_ENUM_ROW.match(line))
            ):
                current.enums.setdefault(enum.group(1), set()).add(enum.group(2))
            elif current is not None and not in_enums and (prop := row.match(line)):
                current.properties[prop.group(1)] = prop.group(4) == "true"
            elif current is not None and not in_enums and (prop := _PIPE_ROW.match(line)):
                current.properties[prop.group(1)] = prop.group(2) == "true"
    return schemas


def client_calls() -> dict[tuple[str, str], Call]:
    """Every `Call` constant of `agent.api.endpoints` by `(method, path shape)`, as the seeds
    are keyed, so the client's list compares with theirs."""
    calls: dict[tuple[str, str], Call] = {}
    for module_info in pkgutil.iter_modules(agent.api.endpoints.__path__):
        module = importlib.import_module(f"agent.api.endpoints.{module_info.name}")
        for value in vars(module).values():
            if isinstance(value, Call):
                calls[(value.method, path_shape(value.path))] = value
    return calls
