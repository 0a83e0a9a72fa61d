"""The base every wire model shares, so client and server read and write one format."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    WithJsonSchema,
)
from pydantic.alias_generators import to_camel

__all__ = [
    "CALLER_ID_PATTERN",
    "DATETIME_PATTERN",
    "INT64_MAX",
    "NOT_SPACE",
    "RESOURCE_ID_PATTERN",
    "SPACE",
    "AnyCaseEnum",
    "CallerId",
    "OpenEnum",
    "ResourceId",
    "SnakeWireModel",
    "WireDatetime",
    "WireInstant",
    "WireModel",
    "dump_list",
    "format_timestamp",
    "parse_list",
]


def format_timestamp(moment: datetime) -> str:
    """Format as the platform does (`yyyy-MM-dd'T'HH:mm:ss.SSS'Z'`); naive means UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def _as_utc(moment: datetime) -> datetime:
    """Java's Instant has no naive form: a naive value on the wire is read as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59-01:00: not a ValueError, so not a 400 by itself
        raise ValueError("the instant in UTC is outside the years 1-9999") from None


_YEAR = "(1[0-9]{3}|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])"
_MONTH_DAY = (
    "((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)"
    "|02-(0[1-9]|1[0-9]|2[0-9]))"
)
_HOURS = "([01][0-9]|2[0-3])"
DATETIME_PATTERN = (
    f"^{_YEAR}-{_MONTH_DAY}T{_HOURS}:[0-5][0-9]:[0-5][0-9]([.][0-9]{{1,9}})?"
    f"(Z|[+-]{_HOURS}:[0-5][0-9])$"
)
"""The instants the document promises the server reads (it reads more, e.g. naive values) and
the shape it writes them in:
JSON Schema's `format` is only an annotation in OpenAPI 3.1, so a client generated from the
document, or a fuzzer, learns the shape from this pattern. Years 1000-9998 keep every offset
inside Python's range; February 29 of a common year still matches and is refused."""

WireDatetime = Annotated[
    datetime,
    AfterValidator(_as_utc),
    PlainSerializer(format_timestamp, return_type=str, when_used="json"),
    # Both modes: the platform's document describes request bodies in serialization mode.
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": DATETIME_PATTERN}),
]
"""A UTC instant, written ISO-8601 with milliseconds and `Z` like the platform writes it."""

E = TypeVar("E", bound=StrEnum)

OpenEnum = Annotated[E | str, Field(union_mode="left_to_right")]
"""An enum value where the known members become the enum and other strings pass through.

Used where the contract invites other values or where a newer server may send members
this client does not know yet; a strict enum there would reject a whole response."""


def _upper_case(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


AnyCaseEnum = Annotated[E | str, Field(union_mode="left_to_right"), BeforeValidator(_upper_case)]
"""An `OpenEnum` read in any case (`video` is VIDEO): vendor scripts send lower-case values.

The canonical upper-case member is what gets written back."""

WireInstant = Annotated[WireDatetime | str, Field(union_mode="left_to_right")]
"""An instant the seed types as a plain string (recorder and composition times): a parseable
value becomes a UTC `datetime` written as the platform writes instants; anything else passes."""


class WireModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields are kept, never dropped."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready body: aliases, no unset optionals, datetimes as strings."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class SnakeWireModel(WireModel):
    """For the few parts of the contract that are snake_case on the wire (OAuth, Talkdesk)."""

    model_config = ConfigDict(alias_generator=None)


M = TypeVar("M", bound=BaseModel)


SPACE = r"[\t\n\x0b\x0c\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
r"""Whitespace in a pattern of the document, spelled out: `\s` is another set in ECMA-262 (a
client generated from the document), in pydantic's regex and in Python. These characters are
whitespace in all three, and `str.strip` removes them."""

NOT_SPACE = f"[^{SPACE[1:]}"
"""Any character but `SPACE`'s, read alike by all three."""

CALLER_ID_PATTERN = r"^[^/+#\s\x1c-\x1f\x85]{0,200}$"
r"""An id a caller may choose (conference, endpoint, stream, viewer, interaction): it becomes a
URL path segment and an MQTT topic level, so no '/', MQTT wildcard or whitespace, at most 200
characters; empty or absent, the platform chooses one. U+001C-U+001F and U+0085 are spelled
out: Python's `\s` covers them, ECMA-262's (a client generated from the document) does not."""

CallerId = Annotated[str, Field(pattern=CALLER_ID_PATTERN)]

RESOURCE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
"""An id a caller names a stored resource by in the Recorder and Composition APIs (a
conversationId, an applicationId): a URL path segment, so URL-safe. The platform also refuses
`attachment` and `inline`, which its signed routes' paths would mistake for a segment."""

ResourceId = Annotated[str, Field(pattern=RESOURCE_ID_PATTERN)]

INT64_MAX = 2**63 - 1
"""The largest integer a stored number may be (SQLite's INTEGER, Java's long)."""


def parse_list(model: type[M], payload: Any) -> list[M]:
    """Validate a bare JSON array response (the contract has several) into models."""
    return TypeAdapter(list[model]).validate_python(payload)  # type: ignore[valid-type]


def dump_list(items: list[WireModel]) -> list[dict[str, Any]]:
    """The wire form of a bare JSON array response."""
    return [item.to_wire() for item in items]
