"""Interactions (`/interactions...`), in their seed 001 form (v1.9.18): filters, Spring pages,
and `organizationId` for SERVICE callers."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, Field

from agent.api.models.base import INT64_MAX, SPACE, CallerId, WireDatetime, WireModel

__all__ = [
    "MAX_DATA_BYTES",
    "MAX_PAGE",
    "MAX_PAGE_SIZE",
    "SORTABLE",
    "CreateInteractionResponse",
    "CreateInteractionWebCommand",
    "Interaction",
    "InteractionQuery",
    "InteractionRecordingFilter",
    "InteractionType",
    "Page",
    "PageInteraction",
    "PageableObject",
    "SortObject",
    "UpdateInteractionWebCommand",
]


MAX_PAGE_SIZE = 100
"""The most interactions one page holds (`size`); with `MAX_DATA_BYTES` it bounds a page."""
MAX_PAGE = 1_000_000
MAX_DATA_BYTES = 64 * 1024
"""The largest interaction `data`, as compact JSON (docs/platform.md, limits)."""


SORTABLE = ("createdAt", "id", "version", "type", "createdBy")
"""What `sort=property[,asc|desc]` may name."""
_SORT = rf"^({'|'.join(SORTABLE)})(,([aA][sS][cC]|[dD][eE][sS][cC])?)?$"
_TYPE_NAME = "(audio|video|chat|cobrowse)"
_ITEM = f"{SPACE}*{_TYPE_NAME}?{SPACE}*"
_TYPES = rf"^({_ITEM},)*{SPACE}*{_TYPE_NAME}{SPACE}*(,{_ITEM})*$"
"""The `type` filter: a comma-separated list naming at least one interaction type."""


class InteractionType(StrEnum):
    """The values the `type` filter names; an interaction's own `type` is free text."""

    AUDIO = "audio"
    VIDEO = "video"
    CHAT = "chat"
    COBROWSE = "cobrowse"


class InteractionRecordingFilter(StrEnum):
    MEDIA = "media"
    NO_MEDIA = "no_media"
    COBROWSE = "cobrowse"
    NO_COBROWSE = "no_cobrowse"


class CreateInteractionWebCommand(WireModel):
    """`POST /interactions`; SERVICE callers must give `organization_id` (400 otherwise)."""

    interaction_id: CallerId | None = None
    type: str | None = None
    data: dict[str, Any] | None = None
    organization_id: str | None = None


class CreateInteractionResponse(WireModel):
    interaction_id: str | None = None
    version: int | None = None


class UpdateInteractionWebCommand(WireModel):
    """`PUT /interactions/{id}` (204, 409 on a version conflict); omitted fields stay."""

    type: str | None = None
    data: dict[str, Any] | None = None
    version: int | None = None


class Interaction(WireModel):
    id: str | None = None
    organization_id: str | None = None
    created_by: str | None = None
    created_at: WireDatetime | None = None
    type: str | None = None
    data: dict[str, Any] | None = None
    version: int | None = None


class InteractionQuery(WireModel):
    """Query parameters of `GET /interactions` (date range, paging, filters)."""

    start: WireDatetime
    end: WireDatetime
    page: int | None = Field(default=None, ge=0, le=MAX_PAGE)
    size: int | None = Field(default=None, ge=1, le=MAX_PAGE_SIZE)
    sort: list[Annotated[str, Field(pattern=_SORT)]] | None = None
    type: str | None = Field(default=None, pattern=_TYPES)
    user_id: str | None = None
    recording: InteractionRecordingFilter | None = None
    customer_id: str | None = None
    conference_id: str | None = None
    tags: str | None = None
    on_hold_duration_gt: int | None = Field(default=None, ge=0, le=INT64_MAX)
    on_hold_duration_lt: int | None = Field(default=None, ge=0, le=INT64_MAX)


class SortObject(WireModel):
    empty: bool | None = None
    sorted: bool | None = None
    unsorted: bool | None = None


class PageableObject(WireModel):
    offset: int | None = None
    sort: SortObject | None = None
    page_size: int | None = None
    paged: bool | None = None
    page_number: int | None = None
    unpaged: bool | None = None


T = TypeVar("T", bound=BaseModel)


class Page(WireModel, Generic[T]):
    """A Spring Data page, as the platform's paged endpoints answer."""

    total_pages: int | None = None
    total_elements: int | None = None
    size: int | None = None
    content: list[T] | None = None
    number: int | None = None
    sort: SortObject | None = None
    number_of_elements: int | None = None
    pageable: PageableObject | None = None
    first: bool | None = None
    last: bool | None = None
    empty: bool | None = None


class PageInteraction(Page[Interaction]):
    """`GET /interactions` answer."""
