"""Snapshots and camera requests (`/rtc-api/snapshots/...`).

A requested snapshot goes REQUESTED (no state on the wire yet) -> UPLOADED (the target acquired
it) -> APPROVED or DISCARDED (the requester decided). An uploaded one (`/snapshots/upload`) is
born UPLOADED, with the uploader as its user and the target as its requester, so the target
approves or discards it like any other. Every step sends the PROTOCOL.md event: the request to
the target endpoint, the outcome to the requester endpoint.

Only images are stored: the type is read from the bytes, not from the declared mime type, and
the file name under the data directory is generated, never taken from the request.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from aiohttp import web

from agent.api.models.common import SignedUrl
from agent.api.models.events import (
    SnapshotAcquiredEvent,
    SnapshotApprovedEvent,
    SnapshotCameraRequestedEvent,
    SnapshotCameraRequestProcessedEvent,
    SnapshotDiscardedEvent,
    SnapshotRequestedEvent,
)
from agent.api.models.snapshots import (
    CreateSnapshotSignedURLWebCommand,
    Snapshot,
    SnapshotAcquireForm,
    SnapshotApprovalProcessingResult,
    SnapshotApproveWebCommand,
    SnapshotCameraRequestRespondWebCommand,
    SnapshotCameraRequestWebCommand,
    SnapshotDiscardWebCommand,
    SnapshotQuery,
    SnapshotRequestResult,
    SnapshotRequestWebCommand,
    SnapshotState,
    SnapshotUploadForm,
    SnapshotUploadResult,
)
from server import storage
from server.auth.caller import CALLER_KEY, Caller
from server.errors import BadRequest, Conflict, Forbidden, NotFound
from server.events import Recipient
from server.http import json_response, no_content
from server.interactions import confine_customer
from server.openapi import operation
from server.platform import platform_of
from server.registrations import UserEndpoint
from server.storage import Condition, Query, Storage, StoredRecord, epoch_ms, utc_now
from server.storage.access import record_in_org
from server.storage.downloads import Content, download_route, signed_url
from server.storage.images import ImageType, sniff_image
from server.storage.uploads import Form, UploadedFile

MAX_IMAGE_BYTES = 10 * 1024 * 1024
SNAPSHOT = "snapshot"
CAMERA_REQUEST = "camera_request"
_FILES = "snapshots"


def _checked_image(image: UploadedFile) -> ImageType:
    found = sniff_image(image.data)
    if found is None:
        raise BadRequest("image: not a JPEG, PNG, GIF or WebP image (checked from its bytes)")
    return found


def _checked_suffix(suffix: str) -> str:
    """The client's suffix is kept as a label only, so it just has to look like one."""
    cleaned = suffix.removeprefix(".")
    if not (1 <= len(cleaned) <= 10 and cleaned.isascii() and cleaned.isalnum()):
        raise BadRequest("snapshotSuffix: must be 1-10 letters or digits (e.g. 'jpg')")
    return cleaned


# --- records --------------------------------------------------------------------------
# A snapshot record's body: {"snapshot": <wire Snapshot>, "file": <storage key> | null}.


def _snapshot(record: StoredRecord) -> Snapshot:
    snapshot = Snapshot.model_validate(record.body["snapshot"])
    snapshot.version = record.version
    return snapshot


def _body(snapshot: Snapshot, file_key: str | None) -> dict[str, Any]:
    return {"snapshot": snapshot.to_wire(), "file": file_key}


def _location(snapshot: Snapshot, image: ImageType) -> str:
    """Where the snapshot is filed (the seed: under the interaction when there is one)."""
    name = f"{snapshot.id}.{image.extension}"
    if snapshot.interaction_id:
        return f"interactions/{quote(snapshot.interaction_id, safe='')}/snapshots/{name}"
    return f"snapshots/{name}"


def _visible_to(caller: Caller, snapshot: Snapshot) -> bool:
    """Customers see only snapshots they took or asked for; staff see the organization's."""
    return not caller.is_customer or caller.user_id in (
        snapshot.user_id,
        snapshot.requester_user_id,
    )


def _readable(request: web.Request, snapshot_id: str) -> tuple[StoredRecord, Snapshot]:
    caller = request[CALLER_KEY]
    record = record_in_org(request, SNAPSHOT, snapshot_id, caller.organization, "snapshot")
    snapshot = _snapshot(record)
    if not _visible_to(caller, snapshot):
        raise NotFound(f"snapshot {snapshot_id} not found")
    return record, snapshot


def _target(request: web.Request, user_id: str, endpoint_id: str) -> UserEndpoint:
    """The registered endpoint a request is aimed at, in the caller's organization."""
    endpoint = platform_of(request).registrations.find(
        request[CALLER_KEY].organization, endpoint_id
    )
    if endpoint is None:
        raise NotFound(f"target user endpoint {endpoint_id} is not registered")
    if endpoint.user_id != user_id:
        raise BadRequest(
            f"targetUserId: {user_id} is not the user of target user endpoint {endpoint_id}"
        )
    platform_of(request).conferences.require_reach(request[CALLER_KEY], endpoint_id)
    return endpoint


def _send(request: web.Request, user_id: str | None, endpoint_id: str | None, event: Any) -> None:
    if user_id and endpoint_id:
        platform_of(request).events.send([Recipient(user_id, endpoint_id)], event.to_wire())


def _send_decision(request: web.Request, snapshot: Snapshot, event: Any) -> None:
    """A decision goes to the requester and to the endpoint that took the picture (the
    platform's mobile SDK, the usual target, handles SnapshotApprovedEvent)."""
    _send(request, snapshot.requester_user_id, snapshot.requester_user_endpoint_id, event)
    if snapshot.user_endpoint_id != snapshot.requester_user_endpoint_id:
        _send(request, snapshot.user_id, snapshot.user_endpoint_id, event)


def _event_base(user_id: str, endpoint_id: str) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "timestamp": utc_now(),
        "user_id": user_id,
        "user_endpoint_id": endpoint_id,
    }


def _save(storage_: Storage, record: StoredRecord, snapshot: Snapshot, file_key: str | None) -> int:
    """Write back under optimistic locking; a concurrent change of the same snapshot wins."""
    version = storage_.records.update(
        SNAPSHOT, record.id, _body(snapshot, file_key), expected_version=record.version
    )
    if version is None:
        raise Conflict(f"snapshot {record.id} was changed concurrently; retry")
    return version


# --- snapshot routes ------------------------------------------------------------------


@operation(
    "Request a snapshot of a target endpoint's camera",
    response=SnapshotRequestResult,
)
async def request_snapshot(request: web.Request, body: SnapshotRequestWebCommand) -> web.Response:
    caller = request[CALLER_KEY]
    platform_of(request).registrations.own(caller, body.user_endpoint_id)
    _target(request, body.target_user_id, body.target_user_endpoint_id)
    confine_customer(
        request, caller, conference_id=body.session_id, interaction_id=body.interaction_id
    )
    now = utc_now()
    snapshot_id = str(uuid.uuid4())
    snapshot = Snapshot(
        id=snapshot_id,
        organization_id=caller.organization,
        application_id=body.application_id,
        requester_user_id=caller.user_id,
        requester_user_endpoint_id=body.user_endpoint_id,
        user_id=body.target_user_id,
        user_endpoint_id=body.target_user_endpoint_id,
        session_type=body.session_type,
        session_id=body.session_id,
        interaction_id=body.interaction_id,
        type=body.snapshot_type,
        request_processing_result=SnapshotRequestResult(snapshot_id=snapshot_id),
        created_at=now,
    )
    storage.storage_of(request).records.insert(
        SNAPSHOT, snapshot_id, caller.organization, epoch_ms(now), _body(snapshot, None)
    )
    event = SnapshotRequestedEvent(
        **_event_base(caller.user_id, body.user_endpoint_id),
        snapshot_id=snapshot_id,
        snapshot_type=body.snapshot_type,
        target_user_id=body.target_user_id,
        target_user_endpoint_id=body.target_user_endpoint_id,
    )
    _send(request, body.target_user_id, body.target_user_endpoint_id, event)
    return json_response(SnapshotRequestResult(snapshot_id=snapshot_id))


@operation(
    "The target endpoint answers a snapshot request with the captured image",
    files={"image": MAX_IMAGE_BYTES},
    status=204,
    errors=(400, 403, 404, 409, 413),
)
async def acquire_snapshot(request: web.Request, form: Form[SnapshotAcquireForm]) -> web.Response:
    fields = form.fields
    caller = request[CALLER_KEY]
    platform_of(request).registrations.own(caller, fields.user_endpoint_id)
    record = record_in_org(request, SNAPSHOT, fields.snapshot_id, caller.organization, "snapshot")
    snapshot = _snapshot(record)
    if snapshot.user_endpoint_id != fields.user_endpoint_id or snapshot.user_id != caller.user_id:
        raise Forbidden(f"only the target endpoint of snapshot {fields.snapshot_id} may acquire it")
    if snapshot.state is not None:
        raise Conflict(f"snapshot {fields.snapshot_id} is already {snapshot.state}")
    suffix = _checked_suffix(fields.snapshot_suffix)
    image = _checked_image(form.file("image"))
    store = storage.storage_of(request)
    file_key = await store.files.save(_FILES, form.file("image").data)
    snapshot.state = SnapshotState.UPLOADED
    snapshot.type = fields.snapshot_type
    snapshot.suffix = suffix
    snapshot.mime_type = image.mime_type
    snapshot.path = _location(snapshot, image)
    snapshot.timestamp = utc_now()
    snapshot.approved = False
    try:
        _save(store, record, snapshot, file_key)
    except Conflict:
        await store.files.delete(_FILES, file_key)
        raise
    event = SnapshotAcquiredEvent(
        **_event_base(caller.user_id, fields.user_endpoint_id),
        snapshot_id=fields.snapshot_id,
        snapshot_type=snapshot.type,
        snapshot_location=snapshot.path,
    )
    _send(request, snapshot.requester_user_id, snapshot.requester_user_endpoint_id, event)
    return no_content()


@operation(
    "Send an unrequested snapshot to a target endpoint, which then approves or discards it",
    files={"image": MAX_IMAGE_BYTES},
    response=SnapshotUploadResult,
    errors=(400, 404, 413),
)
async def upload_snapshot(request: web.Request, form: Form[SnapshotUploadForm]) -> web.Response:
    fields = form.fields
    caller = request[CALLER_KEY]
    platform_of(request).registrations.own(caller, fields.user_endpoint_id)
    _target(request, fields.target_user_id, fields.target_user_endpoint_id)
    confine_customer(request, caller, conference_id=None, interaction_id=fields.interaction_id)
    if fields.related_snapshot_id:
        _readable(request, fields.related_snapshot_id)
    suffix = _checked_suffix(fields.snapshot_suffix)
    image = _checked_image(form.file("image"))
    store = storage.storage_of(request)
    now = utc_now()
    snapshot = Snapshot(
        id=str(uuid.uuid4()),
        related_snapshot_id=fields.related_snapshot_id,
        organization_id=caller.organization,
        application_id=fields.application_id,
        requester_user_id=fields.target_user_id,
        requester_user_endpoint_id=fields.target_user_endpoint_id,
        user_id=caller.user_id,
        user_endpoint_id=fields.user_endpoint_id,
        interaction_id=fields.interaction_id,
        type=fields.snapshot_type,
        state=SnapshotState.UPLOADED,
        suffix=suffix,
        mime_type=image.mime_type,
        timestamp=now,
        created_at=now,
        approved=False,
    )
    assert snapshot.id is not None
    snapshot.path = _location(snapshot, image)
    file_key = await store.files.save(_FILES, form.file("image").data)
    store.records.insert(
        SNAPSHOT, snapshot.id, caller.organization, epoch_ms(now), _body(snapshot, file_key)
    )
    event = SnapshotAcquiredEvent(
        **_event_base(caller.user_id, fields.user_endpoint_id),
        snapshot_id=snapshot.id,
        snapshot_type=snapshot.type,
        snapshot_location=snapshot.path,
    )
    _send(request, fields.target_user_id, fields.target_user_endpoint_id, event)
    # The seed says 204 yet gives this body; the uploader needs the id, so it gets the body.
    return json_response(SnapshotUploadResult(snapshot_id=snapshot.id))


def _decidable(
    request: web.Request, snapshot_id: str, endpoint_id: str
) -> tuple[StoredRecord, Snapshot]:
    """A snapshot the caller's endpoint requested (approve/discard are the requester's)."""
    caller = request[CALLER_KEY]
    platform_of(request).registrations.own(caller, endpoint_id)
    record = record_in_org(request, SNAPSHOT, snapshot_id, caller.organization, "snapshot")
    snapshot = _snapshot(record)
    if (
        snapshot.requester_user_endpoint_id != endpoint_id
        or snapshot.requester_user_id != caller.user_id
    ):
        raise Forbidden(f"only the requester endpoint of snapshot {snapshot_id} may decide on it")
    return record, snapshot


@operation(
    "The requester approves an acquired snapshot",
    status=204,
    errors=(400, 403, 404, 409),
)
async def approve_snapshot(request: web.Request, body: SnapshotApproveWebCommand) -> web.Response:
    record, snapshot = _decidable(request, body.snapshot_id, body.user_endpoint_id)
    if snapshot.state != SnapshotState.UPLOADED:
        what = snapshot.state or "not acquired yet"
        raise Conflict(f"snapshot {body.snapshot_id} is {what}; only UPLOADED can be approved")
    snapshot.state = SnapshotState.APPROVED
    snapshot.approved = True
    snapshot.approval_processing_result = SnapshotApprovalProcessingResult(succeeded=True)
    if body.snapshot_type:
        snapshot.type = body.snapshot_type
    store = storage.storage_of(request)
    _save(store, record, snapshot, record.body["file"])
    event = SnapshotApprovedEvent(
        **_event_base(request[CALLER_KEY].user_id, body.user_endpoint_id),
        snapshot_id=body.snapshot_id,
        snapshot_type=snapshot.type,
        snapshot_location=snapshot.path,
    )
    _send_decision(request, snapshot, event)
    return no_content()


@operation(
    "The requester discards a snapshot (or withdraws a request not answered yet)",
    status=204,
    errors=(400, 403, 404, 409),
)
async def discard_snapshot(request: web.Request, body: SnapshotDiscardWebCommand) -> web.Response:
    record, snapshot = _decidable(request, body.snapshot_id, body.user_endpoint_id)
    if snapshot.state not in (None, SnapshotState.UPLOADED):
        raise Conflict(f"snapshot {body.snapshot_id} is already {snapshot.state}")
    snapshot.state = SnapshotState.DISCARDED
    snapshot.approved = False
    store = storage.storage_of(request)
    _save(store, record, snapshot, None)
    if record.body["file"]:
        # A discarded image is not kept: the record stays as the history, the picture goes.
        await store.files.delete(_FILES, record.body["file"])
    event = SnapshotDiscardedEvent(
        **_event_base(request[CALLER_KEY].user_id, body.user_endpoint_id),
        snapshot_id=body.snapshot_id,
    )
    _send_decision(request, snapshot, event)
    return no_content()


@operation(
    "A time-limited URL to download a snapshot's image without a token",
    response=SignedUrl,
    headers=("Referer",),
    errors=(400, 404, 409),
)
async def snapshot_signed_url(
    request: web.Request, body: CreateSnapshotSignedURLWebCommand
) -> web.Response:
    record, snapshot = _readable(request, body.snapshot_id)
    if not record.body["file"]:
        what = snapshot.state or "not acquired yet"
        raise Conflict(f"snapshot {body.snapshot_id} has no image ({what})")
    return json_response(signed_url(request, "snapshots", body.snapshot_id))


@operation("The snapshots of an interaction", response=list[Snapshot], errors=(400,))
async def find_snapshots(request: web.Request, query: SnapshotQuery) -> web.Response:
    interaction_id = query.interaction_id
    caller = request[CALLER_KEY]
    records = storage.storage_of(request).records.find(
        SNAPSHOT,
        Query(
            organization_id=caller.organization,
            conditions=[Condition("$.snapshot.interactionId", "=", interaction_id)],
        ),
    )
    found = [_snapshot(r) for r in records]
    return json_response([s for s in found if s.state is not None and _visible_to(caller, s)])


@operation("One snapshot", response=Snapshot)
async def get_snapshot(request: web.Request) -> web.Response:
    _, snapshot = _readable(request, request.match_info["snapshotId"])
    return json_response(snapshot)


def _snapshot_content(store: Storage, snapshot_id: str) -> Content | None:
    record = store.records.get(SNAPSHOT, snapshot_id)
    if record is None or not record.body["file"]:
        return None
    snapshot = _snapshot(record)
    return Content(
        path=store.files.path(_FILES, record.body["file"]),
        content_type=snapshot.mime_type or "application/octet-stream",
        filename=(snapshot.path or "").rsplit("/", 1)[-1] or None,
        attachment=False,
    )


# --- camera requests ------------------------------------------------------------------
# A camera request's body: {"request": <the command>, "requesterUserId": ...,
# "processed": bool, "succeeded": bool | null, "additionalInformation": str | null}.


@operation(
    "Ask a target endpoint to switch camera or turn its torch on or off",
    response=str,
)
async def camera_request(
    request: web.Request, body: SnapshotCameraRequestWebCommand
) -> web.Response:
    caller = request[CALLER_KEY]
    platform_of(request).registrations.own(caller, body.user_endpoint_id)
    _target(request, body.target_user_id, body.target_user_endpoint_id)
    request_id = str(uuid.uuid4())
    stored = {
        "request": body.to_wire(),
        "requesterUserId": caller.user_id,
        "processed": False,
        "succeeded": None,
        "additionalInformation": None,
    }
    storage.storage_of(request).records.insert(
        CAMERA_REQUEST, request_id, caller.organization, epoch_ms(utc_now()), stored
    )
    event = SnapshotCameraRequestedEvent(
        **_event_base(caller.user_id, body.user_endpoint_id),
        snapshot_camera_request_id=request_id,
        camera_request_type=body.camera_request_type,
        target_user_id=body.target_user_id,
        target_user_endpoint_id=body.target_user_endpoint_id,
    )
    _send(request, body.target_user_id, body.target_user_endpoint_id, event)
    return web.json_response(request_id)


@operation(
    "The target endpoint reports whether it carried out a camera request",
    status=204,
    errors=(400, 403, 404, 409),
)
async def camera_request_respond(
    request: web.Request, body: SnapshotCameraRequestRespondWebCommand
) -> web.Response:
    caller = request[CALLER_KEY]
    platform_of(request).registrations.own(caller, body.user_endpoint_id)
    request_id = body.snapshot_camera_request_id
    record = record_in_org(
        request, CAMERA_REQUEST, request_id, caller.organization, "camera request"
    )
    original = SnapshotCameraRequestWebCommand.model_validate(record.body["request"])
    if (
        original.target_user_endpoint_id != body.user_endpoint_id
        or original.target_user_id != caller.user_id
    ):
        raise Forbidden(f"only the target endpoint of camera request {request_id} may respond")
    if record.body["processed"]:
        raise Conflict(f"camera request {request_id} was already responded to")
    stored = dict(record.body)
    stored.update(
        processed=True,
        succeeded=body.succeeded,
        additionalInformation=body.additional_information,
    )
    records = storage.storage_of(request).records
    if records.update(CAMERA_REQUEST, request_id, stored, expected_version=record.version) is None:
        raise Conflict(f"camera request {request_id} was already responded to")
    event = SnapshotCameraRequestProcessedEvent(
        **_event_base(caller.user_id, body.user_endpoint_id),
        snapshot_camera_request_id=request_id,
        succeeded=body.succeeded,
        additional_information=body.additional_information,
    )
    _send(request, record.body["requesterUserId"], original.user_endpoint_id, event)
    return no_content()


def setup(app: web.Application) -> None:
    storage.install(app)
    base = "/rtc-api/snapshots"
    app.router.add_post(f"{base}/request", request_snapshot)
    app.router.add_post(f"{base}/acquire", acquire_snapshot)
    app.router.add_post(f"{base}/upload", upload_snapshot)
    app.router.add_post(f"{base}/approve", approve_snapshot)
    app.router.add_post(f"{base}/discard", discard_snapshot)
    app.router.add_post(f"{base}/signedUrl", snapshot_signed_url)
    app.router.add_post(f"{base}/cameraRequest", camera_request)
    app.router.add_post(f"{base}/cameraRequestRespond", camera_request_respond)
    app.router.add_get(base, find_snapshots)
    app.router.add_get(f"{base}/{{snapshotId}}", get_snapshot)
    download_route(app, "snapshots", "snapshotId", _snapshot_content)


__all__ = ["MAX_IMAGE_BYTES", "setup", "sniff_image"]
