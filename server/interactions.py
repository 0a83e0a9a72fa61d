"""Interactions (`/rtc-api/interactions...`) in their seed 001 form: SERVICE callers name the
organization, updates use optimistic locking (409), and the list is a filtered Spring page.

Staff work in their token's organization. SERVICE callers create in the `organizationId` they
give and, as seed 001 says, bypass organization scoping when reading or updating by id; their
list spans all organizations unless they pass `organizationId`. Customers have no access.

The list filters read these places of an interaction (the seed names the filters, not where
their values live): `type` the interaction's type (comma-separated values, any of them);
`userId` its creator; `customerId`, `conferenceId` the same keys of `data`; `tags` every
comma-separated tag present in the `data.tags` array; `recording` media/no_media and
cobrowse/no_cobrowse the booleans `data.recording.media` and `data.recording.cobrowse`;
`onHoldDurationGt`/`Lt` the number `data.onHoldDuration` (milliseconds); seed 002's
`params=key,value,...` equal top-level keys of `data`.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from aiohttp import web

from agent.api.models.interactions import (
    MAX_DATA_BYTES,
    SORTABLE,
    CreateInteractionResponse,
    CreateInteractionWebCommand,
    Interaction,
    InteractionQuery,
    InteractionRecordingFilter,
    PageableObject,
    PageInteraction,
    SortObject,
    UpdateInteractionWebCommand,
)
from server import storage
from server.auth.caller import CALLER_KEY, Caller
from server.errors import ApiError, BadRequest, Conflict, Forbidden, NotFound
from server.http import check_caller_id, json_response, no_content
from server.openapi import operation
from server.paging import spring_page
from server.platform import platform_of
from server.storage import (
    Condition,
    DuplicateRecordError,
    Query,
    StoredRecord,
    epoch_ms,
    utc_now,
)
from server.storage.access import org_key

INTERACTION = "interaction"
DEFAULT_PAGE_SIZE = 20
"""Far beyond any real listing, and keeps page * size inside SQLite's integers."""
_DATA_KEY = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_SORTABLE = dict(
    zip(SORTABLE, ("$created_at", "$id", "$version", "$.type", "$.createdBy"), strict=True)
)
_TYPES = {"audio", "video", "chat", "cobrowse"}
_RECORDING = {
    InteractionRecordingFilter.MEDIA: ("$.data.recording.media", True),
    InteractionRecordingFilter.NO_MEDIA: ("$.data.recording.media", False),
    InteractionRecordingFilter.COBROWSE: ("$.data.recording.cobrowse", True),
    InteractionRecordingFilter.NO_COBROWSE: ("$.data.recording.cobrowse", False),
}


def _staff(request: web.Request) -> Caller:
    caller = request[CALLER_KEY]
    if caller.is_customer:
        raise Forbidden("interactions are for staff and services, not customers")
    return caller


def _interaction(record: StoredRecord) -> Interaction:
    interaction = Interaction.model_validate(record.body)
    interaction.version = record.version
    return interaction


def confine_customer(
    request: web.Request,
    caller: Caller,
    *,
    conference_id: str | None,
    interaction_id: str | None,
) -> None:
    """A customer names only its ticket's conference, and of its organization's interactions
    only its conference's (a field left out names nothing; an id no interaction has is a mere
    label): it files no rating, snapshot or transfer under another call, where staff list it."""
    if not caller.is_customer:
        return
    named = [("conference", conference_id)] if conference_id != caller.conference_id else []
    if interaction_id is not None and interaction_id != (
        platform_of(request).conferences.interaction_of_customer(caller)
    ):
        key = org_key(caller.organization, interaction_id)
        if storage.storage_of(request).records.get(INTERACTION, key) is not None:
            named.append(("interaction", interaction_id))
    for field, value in named:
        if value is not None:
            raise Forbidden(
                f"{field} {value} is not this customer's (conference {caller.conference_id}): "
                "a customer acts only within its own conference"
            )


def _reachable(request: web.Request, caller: Caller, interaction_id: str) -> StoredRecord:
    """By id, in the caller's organization (ids are per organization: another organization's
    is answered like a missing one). SERVICE callers reach any organization's (seed 001): their
    own organization's first, else the only one of that id."""
    records = storage.storage_of(request).records
    own = records.get(INTERACTION, org_key(caller.organization, interaction_id))
    if own is not None or not caller.is_service:
        if own is None:
            raise NotFound(f"interaction {interaction_id} not found")
        return own
    found = records.find(INTERACTION, Query(conditions=[Condition("$.id", "=", interaction_id)]))
    if len(found) > 1:
        raise Conflict(
            f"interaction {interaction_id} exists in {len(found)} organizations; a SERVICE "
            "caller reaches it from a login of its organization"
        )
    if not found:
        raise NotFound(f"interaction {interaction_id} not found")
    return found[0]


@operation(
    "Create an interaction (SERVICE callers give organizationId)",
    response=CreateInteractionResponse,
    errors=(400, 403, 409),
)
async def create_interaction(
    request: web.Request, body: CreateInteractionWebCommand
) -> web.Response:
    caller = _staff(request)
    service_only = caller.is_service and not caller.has_role("AGENT", "SUPERVISOR", "ADMIN")
    if service_only and not body.organization_id:
        # Seed 001: a service token stands for no organization, so it must name one.
        raise BadRequest("organizationId: required when a SERVICE client creates one")
    organization = caller.organization_for(body.organization_id)
    interaction_id = check_caller_id("interactionId", body.interaction_id or str(uuid.uuid4()))
    now = utc_now()
    interaction = Interaction(
        id=interaction_id,
        organization_id=organization,
        created_by=caller.user_id,
        created_at=now,
        type=body.type,
        data=_checked_data(body.data or {}),
    )
    try:
        storage.storage_of(request).records.insert(
            INTERACTION,
            org_key(organization, interaction_id),
            organization,
            epoch_ms(now),
            interaction.to_wire(),
        )
    except DuplicateRecordError:
        raise Conflict(f"interaction {interaction_id} already exists") from None
    return json_response(CreateInteractionResponse(interaction_id=interaction_id, version=0))


def _checked_data(data: dict[str, Any]) -> dict[str, Any]:
    """Interaction data within `MAX_DATA_BYTES` (a list page holds up to 100 of them)."""
    size = len(json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_DATA_BYTES:
        raise ApiError(
            413, f"data: {size} bytes; interaction data is limited to {MAX_DATA_BYTES} bytes"
        )
    return data


@operation("One interaction", response=Interaction, errors=(400, 403, 404))
async def get_interaction(request: web.Request) -> web.Response:
    record = _reachable(request, _staff(request), request.match_info["interactionId"])
    return json_response(_interaction(record))


@operation(
    "Update an interaction; with `version`, only if it is still at that version",
    status=204,
    errors=(400, 403, 404, 409),
)
async def update_interaction(
    request: web.Request, body: UpdateInteractionWebCommand
) -> web.Response:
    interaction_id = request.match_info["interactionId"]
    record = _reachable(request, _staff(request), interaction_id)
    if body.version is not None and body.version != record.version:
        raise Conflict(
            f"version conflict: interaction {interaction_id} is at version {record.version}, "
            f"the update was made against version {body.version}"
        )
    stored = dict(record.body)
    if body.type is not None:
        stored["type"] = body.type
    if body.data is not None:
        stored["data"] = _checked_data(body.data)  # the seed: supplied data replaces all data
    records = storage.storage_of(request).records
    if records.update(INTERACTION, record.id, stored, expected_version=record.version) is None:
        raise Conflict(f"version conflict: interaction {interaction_id} changed meanwhile")
    return no_content()


def _params(request: web.Request) -> list[tuple[str, str]]:
    """Seed 002's `params=key,value,...`: equality on top-level keys of `data`."""
    params = request.query.get("params")
    pairs: list[tuple[str, str]] = []
    if params:
        items = params.split(",")
        if len(items) % 2:
            raise BadRequest("params: expected key,value pairs (key1,value1,key2,value2)")
        pairs = list(zip(items[::2], items[1::2], strict=True))
        for key, _ in pairs:
            if not _DATA_KEY.match(key):
                raise BadRequest(f"params: {key!r} is not a data key (letters, digits, '_')")
    return pairs


def _conditions(query: InteractionQuery, pairs: list[tuple[str, str]]) -> list[Condition]:
    conditions: list[Condition] = []
    if query.type:
        types = [t.strip() for t in query.type.split(",") if t.strip()]
        unknown = [t for t in types if t not in _TYPES]
        if unknown or not types:
            raise BadRequest(f"type: {unknown or query.type!r}: use audio, video, chat, cobrowse")
        conditions.append(Condition("$.type", "IN", types))
    if query.user_id:
        conditions.append(Condition("$.createdBy", "=", query.user_id))
    if query.customer_id:
        conditions.append(Condition("$.data.customerId", "=", query.customer_id))
    if query.conference_id:
        conditions.append(Condition("$.data.conferenceId", "=", query.conference_id))
    if query.tags:
        for tag in (t.strip() for t in query.tags.split(",")):
            if tag:
                conditions.append(Condition("$.data.tags", "CONTAINS", tag))
    if query.recording is not None:
        path, wanted = _RECORDING[query.recording]
        conditions.append(Condition(path, "=" if wanted else "!=", True))
    if query.on_hold_duration_gt is not None:
        conditions.append(Condition("$.data.onHoldDuration", ">", query.on_hold_duration_gt))
    if query.on_hold_duration_lt is not None:
        conditions.append(Condition("$.data.onHoldDuration", "<", query.on_hold_duration_lt))
    conditions += [Condition(f"$.data.{key}", "=", value) for key, value in pairs]
    return conditions


def _order(sort: list[str]) -> list[tuple[str, bool]]:
    order: list[tuple[str, bool]] = []
    for criterion in sort:
        prop, _, direction = criterion.partition(",")
        if prop not in _SORTABLE:
            raise BadRequest(f"sort: cannot sort by {prop!r}; use one of {', '.join(_SORTABLE)}")
        if direction.lower() not in ("", "asc", "desc"):
            raise BadRequest(f"sort: direction {direction!r} is not asc or desc")
        order.append((_SORTABLE[prop], direction.lower() != "desc"))
    return order


@operation(
    "Interactions created in a date range, filtered, sorted and paged",
    response=PageInteraction,
    errors=(400, 403),
)
async def find_interactions(request: web.Request, query: InteractionQuery) -> web.Response:
    caller = _staff(request)
    pairs = _params(request)
    requested_org = request.query.get("organizationId")
    if caller.is_service:
        organization = requested_org or None
    elif requested_org and requested_org != caller.organization:
        raise Forbidden("organizationId: only SERVICE callers list another organization")
    else:
        organization = caller.organization
    size = query.size or DEFAULT_PAGE_SIZE
    page = query.page or 0
    order = _order(query.sort or [])
    selection = Query(
        organization_id=organization,
        conditions=_conditions(query, pairs),
        created_from=epoch_ms(query.start),
        created_to=epoch_ms(query.end),
        order_by=order or [("$created_at", True)],
        limit=size,
        offset=page * size,
    )
    records = storage.storage_of(request).records
    total = records.count(INTERACTION, selection)
    content = [_interaction(r) for r in records.find(INTERACTION, selection)]
    return json_response(
        spring_page(
            PageInteraction,
            PageableObject,
            SortObject,
            content=content,
            number=page,
            size=size,
            total=total,
            is_sorted=bool(order),
        )
    )


def setup(app: web.Application) -> None:
    storage.install(app)
    app[storage.STORAGE_KEY].records.scope_ids(INTERACTION)
    app.router.add_post("/rtc-api/interactions", create_interaction)
    app.router.add_get("/rtc-api/interactions", find_interactions)
    app.router.add_get("/rtc-api/interactions/{interactionId}", get_interaction)
    app.router.add_put("/rtc-api/interactions/{interactionId}", update_interaction)
