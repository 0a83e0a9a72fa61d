"""Talkdesk integration (`/rtc-api/talkdesk-integration/...`), answered from our own records.

- `create` links a Talkdesk contact to the caller's organization and answers the platform's
  id for it; linking the same contact again answers the same id (the seed: "not actually"
  creating anything in Talkdesk).
- `authorization-validator` confirms the bearer token (the middleware already checked it) and
  says whose it is.
- `activity` lists the contact's interactions - those whose `data.customerId` is the contact
  id, the key the interactions `customerId` filter reads - as Talkdesk activity items, with
  links on the host the caller used.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from agent.api.models.talkdesk import (
    TalkdeskAuthorizationRequest,
    TalkdeskContactActivityRequest,
    TalkdeskContactActivityResponseItem,
    TalkdeskCreateTalkdeskRequest,
    TalkdeskCreateTalkdeskResponse,
)
from server import storage
from server.auth.caller import CALLER_KEY, Caller
from server.errors import Forbidden
from server.http import json_response
from server.interactions import INTERACTION
from server.openapi import operation
from server.storage import Condition, DuplicateRecordError, Query, epoch_ms, utc_now

CONTACT = "talkdesk_contact"


def _staff(request: web.Request) -> Caller:
    """Contacts and their interactions are the organization's: not for customers (the
    interactions API refuses them too)."""
    caller = request[CALLER_KEY]
    if caller.is_customer:
        raise Forbidden("the Talkdesk integration is for staff, not customers")
    return caller


@operation(
    "Link a Talkdesk contact; answers the platform's id for it",
    response=TalkdeskCreateTalkdeskResponse,
)
async def create_contact(request: web.Request, body: TalkdeskCreateTalkdeskRequest) -> web.Response:
    contact_id = body.data.contact_id
    caller = _staff(request)
    records = storage.storage_of(request).records
    key = f"{caller.organization}\n{contact_id}"
    external_id = str(uuid.uuid4())
    try:
        records.insert(
            CONTACT,
            key,
            caller.organization,
            epoch_ms(utc_now()),
            {"contactId": contact_id, "externalId": external_id},
        )
        message = "contact linked"
    except DuplicateRecordError:
        existing = records.get(CONTACT, key)
        assert existing is not None
        external_id = existing.body["externalId"]
        message = "contact already linked"
    return json_response(
        TalkdeskCreateTalkdeskResponse(message=message, contact_external_id=external_id)
    )


@operation("Confirm the caller's authorization", response=dict)
async def validate_authorization(
    request: web.Request, body: TalkdeskAuthorizationRequest
) -> web.Response:
    caller = request[CALLER_KEY]
    return web.json_response(
        {
            "status": "valid",
            "userId": caller.user_id,
            "organizationId": caller.organization,
            "roles": ",".join(sorted(caller.roles)),
        }
    )


@operation(
    "A contact's interactions as Talkdesk activity items",
    response=list[TalkdeskContactActivityResponseItem],
    headers=("Host",),
)
async def contact_activity(
    request: web.Request, body: TalkdeskContactActivityRequest
) -> web.Response:
    contact_id = body.data.contact_id
    caller = _staff(request)
    conditions = [Condition("$.data.customerId", "=", contact_id)]
    types = body.meta.interaction_types if body.meta else None
    if types:
        conditions.append(Condition("$.type", "IN", types))
    records = storage.storage_of(request).records.find(
        INTERACTION,
        Query(
            organization_id=caller.organization,
            conditions=conditions,
            order_by=[("$created_at", False)],
        ),
    )
    host = request.host
    items = []
    for record in records:
        data = record.body.get("data") or {}
        kind = record.body.get("type")
        interaction_id = record.body["id"]  # the record's key is scoped by organization
        items.append(
            TalkdeskContactActivityResponseItem(
                id=interaction_id,
                subject=f"{kind or 'auvious'} interaction",
                description=_text(data.get("summary")),
                date=record.body.get("createdAt"),
                url=f"{request.scheme}://{host}/rtc-api/interactions/{interaction_id}",
                type=kind,
                priority=_text(data.get("priority")),
                status=_text(data.get("status")),
            )
        )
    return json_response(items)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def setup(app: web.Application) -> None:
    storage.install(app)
    base = "/rtc-api/talkdesk-integration"
    app.router.add_post(f"{base}/create", create_contact)
    app.router.add_post(f"{base}/authorization-validator", validate_authorization)
    app.router.add_post(f"{base}/activity", contact_activity)
