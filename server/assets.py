"""Assets (`/rtc-api/assets...`): files an application keeps for given roles (logos, media).

Staff upload (or replace) an asset under an id of their choosing and delete it; reading it -
listing, signed URLs - is for callers holding one of its `rolesAllowedAccess`. Uploads and
deletes honour `X-Auvious-TransactionId`: a retried delete answers 204 again, not 404.
Content that is not an image (by its bytes) is served only as an attachment.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from agent.api.models.assets import Asset, AssetQuery, AssetUploadForm
from agent.api.models.common import SignedUrl
from server import storage
from server.auth.caller import CALLER_KEY, Caller
from server.errors import BadRequest, Forbidden
from server.http import json_response, no_content
from server.openapi import operation, parameter_schema
from server.storage import Condition, Query, Storage, StoredRecord, epoch_ms, utc_now
from server.storage.access import TRANSACTION_HEADER, chosen_in_org, once, org_key
from server.storage.downloads import Content, download_route, signed_url
from server.storage.images import sniff_image
from server.storage.uploads import Form, declared_content_type, display_name

MAX_ASSET_BYTES = 25 * 1024 * 1024
ASSET = "asset"
_FILES = "assets"
_ASSET_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_INTERNAL_HEADER = "X-Auvious-CreateInternalSignedUrl"
parameter_schema("path", "assetId", {"type": "string", "pattern": _ASSET_ID.pattern})
parameter_schema("header", _INTERNAL_HEADER, {"type": "string", "enum": ["true", "false"]})

# An asset record's body: {"asset": <wire Asset>, "file": <storage key>, "image": bool}.


def _asset(record: StoredRecord) -> Asset:
    return Asset.model_validate(record.body["asset"])


def _asset_id(request: web.Request) -> str:
    asset_id = request.match_info["assetId"]
    if not _ASSET_ID.match(asset_id):
        raise BadRequest(
            "assetId: 1-128 letters, digits, '.', '_' or '-', not starting with a symbol"
        )
    return asset_id


def _may_read(caller: Caller, asset: Asset) -> bool:
    allowed = {r.strip().upper() for r in (asset.roles_allowed_access or "").split(",")}
    return any(role.upper() in allowed for role in caller.roles)


def _staff_only(caller: Caller, action: str) -> None:
    if caller.is_customer:
        raise Forbidden(f"{action} is for staff, not customers")


@operation(
    "Upload (or replace) an asset",
    files={"file": MAX_ASSET_BYTES},
    status=204,
    headers=(TRANSACTION_HEADER,),
    errors=(400, 403, 409, 413),
)
async def upload_asset(request: web.Request, form: Form[AssetUploadForm]) -> web.Response:
    asset_id = _asset_id(request)
    caller = request[CALLER_KEY]
    _staff_only(caller, "uploading assets")
    fields = form.fields
    if not fields.roles:
        raise BadRequest("rolesAllowedAccess: name at least one role (e.g. 'agent,customer')")
    file = form.file("file")
    key = org_key(caller.organization, asset_id)

    async def work() -> dict[str, Any]:
        store = storage.storage_of(request)
        async with store.locks.hold(f"{ASSET}\n{key}"):
            await replace(store)
        return {}

    async def replace(store: Storage) -> None:
        """Record and file change together, one upload of an id at a time: the file is kept
        only if its record is written, and the file replaced is the one that was recorded."""
        previous = store.records.get(ASSET, key)
        image = sniff_image(file.data)
        now = utc_now()
        asset = Asset(
            id=asset_id,
            organization_id=caller.organization,
            application_id=fields.application_id,
            category=fields.category,
            filename=display_name(fields.filename or file.filename),
            roles_allowed_access=",".join(fields.roles),
            content_type=image.mime_type if image else declared_content_type(file.content_type),
            size=len(file.data),
            created_at=now,
        )
        file_key = await store.files.save(_FILES, file.data)
        body = {"asset": asset.to_wire(), "file": file_key, "image": image is not None}
        try:
            if previous is None:
                store.records.insert(ASSET, key, caller.organization, epoch_ms(now), body)
            else:
                store.records.update(ASSET, key, body)
        except BaseException:
            await store.files.delete(_FILES, file_key)
            raise
        if previous is not None:
            await store.files.delete(_FILES, previous.body["file"])

    await once(request, f"asset-upload {asset_id}", work)
    return no_content()


@operation(
    "Delete an asset",
    status=204,
    headers=(TRANSACTION_HEADER,),
    errors=(400, 403, 404),
)
async def delete_asset(request: web.Request) -> web.Response:
    asset_id = _asset_id(request)
    caller = request[CALLER_KEY]
    _staff_only(caller, "deleting assets")

    async def work() -> dict[str, Any]:
        store = storage.storage_of(request)
        async with store.locks.hold(f"{ASSET}\n{org_key(caller.organization, asset_id)}"):
            record = chosen_in_org(request, ASSET, asset_id, caller.organization, "asset")
            store.records.delete(ASSET, record.id)
            await store.files.delete(_FILES, record.body["file"])
        return {}

    await once(request, f"asset-delete {asset_id}", work)
    return no_content()


@operation(
    "A time-limited URL to an asset, for callers holding one of its roles",
    response=SignedUrl,
    headers=("Referer", _INTERNAL_HEADER),
    errors=(400, 403, 404),
)
async def asset_signed_url(request: web.Request) -> web.Response:
    asset_id = _asset_id(request)
    internal = request.headers.get(_INTERNAL_HEADER)
    if internal is not None and internal.lower() not in ("true", "false"):
        raise BadRequest(f"{_INTERNAL_HEADER}: must be true or false")
    caller = request[CALLER_KEY]
    record = chosen_in_org(request, ASSET, asset_id, caller.organization, "asset")
    asset = _asset(record)
    if not _may_read(caller, asset):
        raise Forbidden(f"asset {asset_id} is for the roles {asset.roles_allowed_access}")
    # Both flavours point at this server's own download route: there is no external store.
    # The path names the asset id (seed 002), the signature its organization's record.
    return json_response(signed_url(request, "assets", asset_id, signed_id=record.id))


@operation(
    "The assets of an application that the caller's roles may read",
    response=list[Asset],
    errors=(400,),
)
async def find_assets(request: web.Request, query: AssetQuery) -> web.Response:
    caller = request[CALLER_KEY]
    records = storage.storage_of(request).records.find(
        ASSET,
        Query(
            organization_id=caller.organization,
            conditions=[Condition("$.asset.applicationId", "=", query.application_id)],
        ),
    )
    return json_response([a for a in map(_asset, records) if _may_read(caller, a)])


def _asset_content(store: Storage, key: str) -> Content | None:
    record = store.records.get(ASSET, key)
    if record is None:
        return None
    asset = _asset(record)
    return Content(
        path=store.files.path(_FILES, record.body["file"]),
        content_type=asset.content_type or "application/octet-stream",
        filename=asset.filename,
        attachment=not record.body["image"],
    )


def _signed_ids(store: Storage, asset_id: str) -> list[str]:
    """The records of every organization that chose this asset id: a download's signature
    says which of them it was made for."""
    query = Query(conditions=[Condition("$.asset.id", "=", asset_id)])
    return [r.id for r in store.records.find(ASSET, query)]


def setup(app: web.Application) -> None:
    storage.install(app)
    app[storage.STORAGE_KEY].records.scope_ids(ASSET)
    base = "/rtc-api/assets"
    app.router.add_get(base, find_assets)
    app.router.add_post(f"{base}/{{assetId}}", upload_asset)
    app.router.add_delete(f"{base}/{{assetId}}", delete_asset)
    app.router.add_post(f"{base}/{{assetId}}/signedUrl", asset_signed_url)
    download_route(app, "assets", "assetId", _asset_content, _signed_ids)
