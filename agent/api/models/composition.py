"""The Composition API (`/composition/api`, seed 003): requests, views, pages, signed URLs.

The seed's vendor clients send enums in any case (`"type": "video"`), `priority` as a numeric
string and sometimes the newer doc's `QVGA` / `LOW`..`HIGH`; commands accept all of these and
hold the canonical form, so the server always writes upper-case enums and `WxH`.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from agent.api.models.base import NOT_SPACE, OpenEnum, ResourceId, WireInstant, WireModel
from agent.api.models.common import SignedPlayerQuery

__all__ = [
    "ACTIVE_COMPOSITION_STATES",
    "AudioFormat",
    "ComposedRecordingDataMessage",
    "CompositionError",
    "CompositionIdentifier",
    "CompositionLayout",
    "CompositionMessage",
    "CompositionPageQuery",
    "CompositionResourceMessage",
    "CompositionState",
    "CompositionType",
    "CompositionView",
    "CreateCompositionWebCommand",
    "PageCompositionView",
    "Pageable",
    "PlayerUrlQuery",
    "ReExecuteCompositionWebCommand",
    "Resolution",
    "SignedPlayerQuery",
    "Sort",
    "VideoFormat",
    "WireInstant",
    "format_duration",
    "instant_seconds",
    "parse_duration",
]


class CompositionType(StrEnum):
    AUDIO = "AUDIO"
    VIDEO = "VIDEO"


class CompositionLayout(StrEnum):
    GRID = "GRID"


class AudioFormat(StrEnum):
    MP3 = "MP3"


class VideoFormat(StrEnum):
    MP4 = "MP4"


class CompositionState(StrEnum):
    """QUEUED, PREPROCESSING, PROCESSING and COMPLETED are the vendor's (its clients poll while
    one of the first three); FAILED and CANCELLED are this platform's, the seed gives none."""

    QUEUED = "QUEUED"
    PREPROCESSING = "PREPROCESSING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


ACTIVE_COMPOSITION_STATES = frozenset(
    {CompositionState.QUEUED, CompositionState.PREPROCESSING, CompositionState.PROCESSING}
)
"""Not finished yet: the states a waiting client keeps polling through."""


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


_PRIORITY_NAMES = {"LOW": 0, "NORMAL": 1, "HIGH": 2}


def _priority(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        return _PRIORITY_NAMES.get(text.upper(), text)
    return value


_RESOLUTION = re.compile(r"(\d{1,5})\s*[xX]\s*(\d{1,5})")
_RESOLUTION_NAMES = {"QVGA": "320x240", "VGA": "640x480", "HD": "1280x720"}
MIN_SIZE = (160, 120)
MAX_SIZE = (1920, 1080)


def _resolution(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    text = _RESOLUTION_NAMES.get(value.strip().upper(), value.strip())
    match = _RESOLUTION.fullmatch(text)
    if match is None:
        raise ValueError("must be WIDTHxHEIGHT, e.g. 320x240")
    width, height = int(match.group(1)), int(match.group(2))
    if width % 2 or height % 2:
        raise ValueError(f"{width}x{height}: width and height must be even")
    if not (MIN_SIZE[0] <= width <= MAX_SIZE[0] and MIN_SIZE[1] <= height <= MAX_SIZE[1]):
        raise ValueError(
            f"{width}x{height} is outside {MIN_SIZE[0]}x{MIN_SIZE[1]}..{MAX_SIZE[0]}x{MAX_SIZE[1]}"
        )
    return f"{width}x{height}"


_EVEN_WIDTH = r"(?:1[6-9][02468]|[2-9][0-9][02468]|1[0-8][0-9][02468]|19[01][02468]|1920)"
_EVEN_HEIGHT = r"(?:1[2-9][02468]|[2-9][0-9][02468]|10[0-7][02468]|1080)"
RESOLUTION_PATTERN = rf"^{_EVEN_WIDTH}x{_EVEN_HEIGHT}$"
"""The canonical `WxH` the document states (even sizes, 160x120 to 1920x1080)."""

Resolution = Annotated[str, Field(pattern=RESOLUTION_PATTERN), BeforeValidator(_resolution)]
"""`WxH` (the seed lists only 320x240; any even size from 160x120 to 1920x1080 is rendered)."""

Priority = Annotated[int, Field(ge=-1000, le=1000), BeforeValidator(_priority)]
"""Higher runs first; an integer, a numeric string, or LOW/NORMAL/HIGH (0/1/2)."""


_AnyCase = BeforeValidator(_upper)


class CreateCompositionWebCommand(WireModel):
    """`POST /composition/api/request`; `priority` defaults to 1 as the seed says."""

    conversation_id: ResourceId
    type: Annotated[CompositionType, _AnyCase]
    layout: Annotated[CompositionLayout, _AnyCase]
    name: Annotated[str, Field(max_length=200, pattern=NOT_SPACE)]
    """Shown in listings: 1-200 characters, not only spaces."""
    resolution: Resolution
    audio_format: Annotated[AudioFormat, _AnyCase] = AudioFormat.MP3
    video_format: Annotated[VideoFormat, _AnyCase] = VideoFormat.MP4
    priority: Priority = 1

    @property
    def size(self) -> tuple[int, int]:
        width, height = self.resolution.split("x")
        return int(width), int(height)


class ReExecuteCompositionWebCommand(WireModel):
    """`POST /composition/api/reexecute`: run a finished composition again under the same id."""

    conversation_id: str
    id: str
    priority: Priority = 1


class CompositionIdentifier(WireModel):
    conversation_id: str
    id: str


class CompositionError(WireModel):
    """Why a composition FAILED (not in the seed: present only on FAILED views)."""

    code: str | None = None
    message: str | None = None


class CompositionView(WireModel):
    id: str | None = None
    conversation_id: str | None = None
    name: str | None = None
    user_id: str | None = None
    type: OpenEnum[CompositionType] | None = None
    format: str | None = None
    layout: OpenEnum[CompositionLayout] | None = None
    state: OpenEnum[CompositionState] | None = None
    created: WireInstant | None = None
    completed: WireInstant | None = None
    duration: str | None = None
    """ISO-8601 (`PT12.345S`), as Java's `Duration` writes it."""
    error: CompositionError | None = None

    @property
    def finished(self) -> bool:
        return self.state not in ACTIVE_COMPOSITION_STATES

    @property
    def duration_seconds(self) -> float | None:
        return parse_duration(self.duration) if self.duration else None


class ComposedRecordingDataMessage(WireModel):
    """What a conversation's recordings hold, as the composer sees them."""

    agent_id: str | None = None
    conversation_id: str | None = None
    organization_id: str | None = None
    audio: bool | None = None
    video: bool | None = None
    can_export_audio: bool | None = None
    can_export_video: bool | None = None
    started: WireInstant | None = None
    stopped: WireInstant | None = None
    duration: str | None = None
    total_participants: int | None = None


class CompositionMessage(WireModel):
    """`GET /composition/api/query/conversation/{conversationId}`: newest first."""

    compositions: list[CompositionView] | None = None
    recording_metadata: ComposedRecordingDataMessage | None = None


class CompositionResourceMessage(WireModel):
    """A signed player URL (C7/C8) and until when it works."""

    url: str | None = None
    valid_until: WireInstant | None = None


class Sort(WireModel):
    empty: bool | None = None
    sorted: bool | None = None
    unsorted: bool | None = None


class Pageable(WireModel):
    offset: int | None = None
    page_number: int | None = None
    page_size: int | None = None
    paged: bool | None = None
    unpaged: bool | None = None
    sort: Sort | None = None


class PageCompositionView(WireModel):
    """`GET /composition/api/query/composition` (the seed's `Page«CompositionView»`)."""

    content: list[CompositionView] | None = None
    empty: bool | None = None
    first: bool | None = None
    last: bool | None = None
    number: int | None = None
    number_of_elements: int | None = None
    size: int | None = None
    total_elements: int | None = None
    total_pages: int | None = None
    pageable: Pageable | None = None
    sort: Sort | None = None


MAX_PAGE_SIZE = 1000
MAX_PAGE_NUMBER = 1_000_000
"""The highest page number a listing takes (as for interactions): the document states it, so
a client generated from it asks for no page the platform refuses."""


class PlayerUrlQuery(WireModel):
    """Query of C7/C8: the seed lists the path's ids again as query parameters (a Spring
    command object); they are optional and must agree with the path."""

    conversation_id: str | None = None
    id: str | None = None


class CompositionPageQuery(WireModel):
    """Query of C9: Spring's real `page`/`size` and the seed's expanded `pageNumber`/`pageSize`
    (the first given wins), and the seed's other `Pageable` getters, which change nothing."""

    page: int | None = Field(default=None, ge=0, le=MAX_PAGE_NUMBER)
    size: int | None = Field(default=None, ge=1, le=MAX_PAGE_SIZE)
    page_number: int | None = Field(default=None, ge=0, le=MAX_PAGE_NUMBER)
    page_size: int | None = Field(default=None, ge=1, le=MAX_PAGE_SIZE)
    offset: int | None = Field(default=None, ge=0)
    paged: bool | None = None
    unpaged: bool | None = None
    sort_sorted: bool | None = Field(default=None, alias="sort.sorted")
    sort_unsorted: bool | None = Field(default=None, alias="sort.unsorted")

    @property
    def number(self) -> int:
        return next((v for v in (self.page, self.page_number) if v is not None), 0)

    @property
    def page_length(self) -> int:
        return next((v for v in (self.size, self.page_size) if v is not None), 20)


_ISO_DURATION = re.compile(
    r"(-)?P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?"
)
_CLOCK = re.compile(r"(\d+):(\d{1,2}):(\d{1,2}(?:\.\d+)?)")


def format_duration(seconds: float) -> str:
    """Java's `Duration.toString()` for whole milliseconds: `PT1M5.123S`, `PT0S` (never
    negative: a composition or recording cannot last less than nothing)."""
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    text = "PT"
    if hours:
        text += f"{hours}H"
    if minutes:
        text += f"{minutes}M"
    if secs or ms or text == "PT":
        text += f"{secs}.{ms:03d}".rstrip("0").rstrip(".") + "S"
    return text


def parse_duration(text: str) -> float:
    """Seconds from ISO-8601 (`PT65.123S`), `HH:mm:ss[.SSS]` or bare seconds."""
    text = text.strip()
    iso = _ISO_DURATION.fullmatch(text.upper())
    if iso and text.upper() not in ("P", "PT"):
        negative, days, hours, minutes, secs = iso.groups()
        total = (
            float(days or 0) * 86400
            + float(hours or 0) * 3600
            + float(minutes or 0) * 60
            + float(secs or 0)
        )
        return -total if negative else total
    clock = _CLOCK.fullmatch(text)
    if clock:
        return int(clock.group(1)) * 3600 + int(clock.group(2)) * 60 + float(clock.group(3))
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"not a duration: {text!r}") from None


def instant_seconds(value: datetime | str | None) -> float | None:
    """Epoch seconds of a `WireInstant`, None when absent or not a readable instant."""
    if isinstance(value, datetime):
        return value.timestamp()
    return None
