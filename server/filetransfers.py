"""File transfers (`/rtc-api/filetransfers...`): a file sent to a user, kept as a record.

The sender uploads once (a retry with the same `X-Auvious-TransactionId` gets the same
transfer back instead of a second one); every live endpoint of the target user gets a
`FileTransferEvent`; sender and target (and the organization's staff) list the transfers and
download them through signed URLs, always as attachments.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from agent.api.models.common import SignedUrl
from agent.api.models.events import FileTransferEvent
from agent.api.models.filetransfers import (
    FileTransfer,
    FileTransferFilter,
    FileTransferForm,
    FileTransferResult,
    FileTransferTarget,
)
from server import storage
from server.auth.caller import CALLER_KEY, Caller
from server.errors import Forbidden, NotFound
from server.http import json_response
from server.interactions import confine_customer
from server.openapi import operation
from server.platform import platform_of
from server.storage import Condition, Query, Storage, StoredRecord, epoch_ms, utc_now
from server.storage.access import TRANSACTION_HEADER, once, record_in_org
from server.storage.downloads import Content, download_route, signed_url
from server.storage.uploads import Form, declared_content_type, display_name

MAX_FILE_BYTES = 25 * 1024 * 1024
FILE_TRANSFER = "file_transfer"
_FILES = "filetransfers"

# A file transfer record's body: {"transfer": <wire FileTransfer>, "file": <storage key>}.


def _transfer(record: StoredRecord) -> FileTransfer:
    return FileTransfer.model_validate(record.body["transfer"])


def _involves(caller: Caller, transfer: FileTransfer) -> bool:
    return caller.user_id in (transfer.user_id, transfer.target_id)


@operation(
    "Send a file to a user; each of the user's endpoints gets a FileTransferEvent",
    files={"file": MAX_FILE_BYTES},
    response=FileTransferResult,
    headers=(TRANSACTION_HEADER,),
    errors=(400, 403, 404, 409, 413),
)
async def transfer_file(
    request: web.Request, query: FileTransferTarget, form: Form[FileTransferForm]
) -> web.Response:
    target_type = query.target_type
    fields = form.fields
    caller = request[CALLER_KEY]
    platform = platform_of(request)
    if fields.user_endpoint_id:
        platform.registrations.own(caller, fields.user_endpoint_id)
    confine_customer(
        request, caller, conference_id=fields.conference_id, interaction_id=fields.interaction_id
    )
    targets = [
        e
        for e in platform.registrations.endpoints_of(caller.organization, fields.target_id)
        if platform.conferences.reaches(caller, e.id)
    ]
    if caller.is_customer and not targets:
        raise Forbidden(
            f"user {fields.target_id} has no endpoint in conference {caller.conference_id}: "
            "a customer acts only within its own conference"
        )
    file = form.file("file")

    async def work() -> dict[str, Any]:
        store = storage.storage_of(request)
        now = utc_now()
        transfer = FileTransfer(
            id=str(uuid.uuid4()),
            organization_id=caller.organization,
            application_id=fields.application_id,
            user_id=caller.user_id,
            user_endpoint_id=fields.user_endpoint_id,
            interaction_id=fields.interaction_id,
            conference_id=fields.conference_id,
            target_type=target_type.value,
            target_id=fields.target_id,
            filename=display_name(file.filename),
            content_type=declared_content_type(file.content_type),
            size=len(file.data),
            created_at=now,
        )
        assert transfer.id is not None
        key = await store.files.save(_FILES, file.data)
        body = {"transfer": transfer.to_wire(), "file": key}
        store.records.insert(FILE_TRANSFER, transfer.id, caller.organization, epoch_ms(now), body)
        event = FileTransferEvent(
            id=str(uuid.uuid4()),
            timestamp=now,
            user_id=caller.user_id,
            user_endpoint_id=fields.user_endpoint_id,
            file_transfer_id=transfer.id,
            application_id=transfer.application_id,
            organization_id=transfer.organization_id,
            interaction_id=transfer.interaction_id,
            conference_id=transfer.conference_id,
            target_type=transfer.target_type,
            target_id=transfer.target_id,
            filename=transfer.filename,
            content_type=transfer.content_type,
            size=transfer.size,
        )
        platform.events.send([e.recipient for e in targets], event.to_wire())
        return FileTransferResult(file_transfer_id=transfer.id).to_wire()

    return web.json_response(await once(request, "filetransfer", work))


@operation(
    "The caller's file transfers (or the organization's, with all=true), by interaction or "
    "conference",
    response=list[FileTransfer],
    errors=(400, 403),
)
async def find_file_transfers(request: web.Request, query: FileTransferFilter) -> web.Response:
    caller = request[CALLER_KEY]
    if query.all and caller.is_customer:
        raise Forbidden("all=true lists the whole organization's transfers; customers cannot")
    conditions = []
    if query.interaction_id is not None:
        conditions.append(Condition("$.transfer.interactionId", "=", query.interaction_id))
    if query.conference_id is not None:
        conditions.append(Condition("$.transfer.conferenceId", "=", query.conference_id))
    records = storage.storage_of(request).records.find(
        FILE_TRANSFER, Query(organization_id=caller.organization, conditions=conditions)
    )
    transfers = [_transfer(r) for r in records]
    if not query.all:
        transfers = [t for t in transfers if _involves(caller, t)]
    return json_response(transfers)


@operation(
    "A time-limited URL to download a transferred file without a token",
    response=SignedUrl,
    headers=("Referer",),
)
async def file_transfer_signed_url(request: web.Request) -> web.Response:
    transfer_id = request.match_info["fileTransferId"]
    caller = request[CALLER_KEY]
    record = record_in_org(
        request, FILE_TRANSFER, transfer_id, caller.organization, "file transfer"
    )
    if caller.is_customer and not _involves(caller, _transfer(record)):
        raise NotFound(f"file transfer {transfer_id} not found")
    return json_response(signed_url(request, "filetransfers", transfer_id))


def _transfer_content(store: Storage, transfer_id: str) -> Content | None:
    record = store.records.get(FILE_TRANSFER, transfer_id)
    if record is None:
        return None
    transfer = _transfer(record)
    return Content(
        path=store.files.path(_FILES, record.body["file"]),
        content_type=transfer.content_type or "application/octet-stream",
        filename=transfer.filename,
    )


def setup(app: web.Application) -> None:
    storage.install(app)
    base = "/rtc-api/filetransfers"
    app.router.add_get(base, find_file_transfers)
    app.router.add_post(base, transfer_file)
    app.router.add_post(f"{base}/{{fileTransferId}}/signedUrl", file_transfer_signed_url)
    download_route(app, "filetransfers", "fileTransferId", _transfer_content)
