"""Rules every record domain applies the same way: organization walls and retried uploads."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from server.auth.caller import CALLER_KEY
from server.errors import BadRequest, Conflict, NotFound
from server.openapi import parameter_schema
from server.storage import DuplicateRecordError, StoredRecord, epoch_ms, storage_of, utc_now

TRANSACTION_HEADER = "X-Auvious-TransactionId"
_TRANSACTION_ID = re.compile(r"^[!-~]([ -~]{0,198}[!-~])?$")
"""1-200 printable ASCII characters, no space at either end (HTTP would strip it)."""
parameter_schema(
    "header", TRANSACTION_HEADER, {"type": "string", "pattern": _TRANSACTION_ID.pattern}
)
_TRANSACTION_KIND = "transaction"
ABANDONED_AFTER_MS = 5 * 60 * 1000
REMEMBERED_FOR_MS = 24 * 60 * 60 * 1000
"""How long a transaction id's result is kept for retries (as long as common idempotency keys
are, e.g. Stripe's): older ones are forgotten, so a platform that runs for weeks does not
keep every upload's id forever."""


def record_in_org(
    request: web.Request, kind: str, record_id: str, organization: str, label: str
) -> StoredRecord:
    """The record if it belongs to ``organization``; else 404, the same answer as for an id
    that does not exist, so one organization cannot probe for another's ids."""
    record = storage_of(request).records.get(kind, record_id)
    if record is None or record.organization_id != organization:
        raise NotFound(f"{label} {record_id} not found")
    return record


def org_key(organization: str, record_id: str) -> str:
    """The stored id of a record whose id its organization chose (interactions, assets):
    organizations name theirs independently, so one neither takes another's id first nor
    learns that it exists. A newline joins them: no caller-chosen id may hold one."""
    return f"{organization}\n{record_id}"


def chosen_in_org(
    request: web.Request, kind: str, record_id: str, organization: str, label: str
) -> StoredRecord:
    """The organization's record of a caller-chosen id; 404 if it has none."""
    record = storage_of(request).records.get(kind, org_key(organization, record_id))
    if record is None:
        raise NotFound(f"{label} {record_id} not found")
    return record


async def once(
    request: web.Request, scope: str, work: Callable[[], Awaitable[dict[str, Any]]]
) -> dict[str, Any]:
    """Run ``work`` once per ``X-Auvious-TransactionId``: a retry gets the first result back.

    The id is claimed before the work starts, so a retry racing the original gets 409 instead
    of doing it twice; if the work fails the claim is released and a retry may try again.
    Without the header every call is new.
    """
    transaction_id = request.headers.get(TRANSACTION_HEADER)
    if transaction_id is None:
        return await work()
    if not _TRANSACTION_ID.match(transaction_id):
        raise BadRequest(f"{TRANSACTION_HEADER} must be 1-200 printable ASCII characters")
    caller = request[CALLER_KEY]
    key = f"{scope}\n{caller.organization}\n{caller.user_id}\n{transaction_id}"
    records = storage_of(request).records
    now = epoch_ms(utc_now())
    records.delete_created_before(_TRANSACTION_KIND, now - REMEMBERED_FOR_MS)
    try:
        records.insert(_TRANSACTION_KIND, key, caller.organization, now, {})
    except DuplicateRecordError:
        previous = records.get(_TRANSACTION_KIND, key)
        if previous is not None and "result" in previous.body:
            return dict(previous.body["result"])
        if previous is None or now - previous.created_at < ABANDONED_AFTER_MS:
            raise Conflict(
                f"a request with {TRANSACTION_HEADER} {transaction_id} is still being processed"
            ) from None
        # A claim this old was left by a server that stopped mid-request: the retry takes it.
    try:
        result = await work()
    except BaseException:
        records.delete(_TRANSACTION_KIND, key)
        raise
    records.update(_TRANSACTION_KIND, key, {"result": result})
    return result
