"""Assets: files an application stores for given roles to read (multipart, signed URLs)."""

from __future__ import annotations

from agent.api.endpoints.base import TRANSACTION_HEADER, Endpoints, form_fields, new_transaction_id
from agent.api.http import Call, FilePart
from agent.api.models.assets import Asset, AssetUploadForm
from agent.api.models.common import SignedUrl

__all__ = ["Assets"]

_BASE = "/rtc-api/assets"
UPLOAD = Call("uploadAsset", "POST", f"{_BASE}/{{assetId}}")
DELETE = Call("deleteAsset", "DELETE", f"{_BASE}/{{assetId}}")
SIGNED_URL = Call("createAssetSignedUrl", "POST", f"{_BASE}/{{assetId}}/signedUrl")
FIND = Call("findAssets", "GET", _BASE)
GET_SIGNED = Call(
    "getSignedAsset", "GET", f"{_BASE}/signed/{{assetId}}/{{expiration}}", authenticated=False
)


class Assets(Endpoints):
    """``client.assets``."""

    async def upload(
        self,
        asset_id: str,
        form: AssetUploadForm,
        file: FilePart,
        *,
        transaction_id: str | None = None,
    ) -> None:
        """Store a file under ``asset_id``; the same transaction id is sent on every retry."""
        await self._http.request(
            UPLOAD,
            path_params={"assetId": asset_id},
            form=form_fields(form, file=file),
            headers={TRANSACTION_HEADER: transaction_id or new_transaction_id()},
        )

    async def delete(self, asset_id: str, *, transaction_id: str | None = None) -> None:
        await self._send(
            DELETE,
            path_params={"assetId": asset_id},
            headers={TRANSACTION_HEADER: transaction_id or new_transaction_id()},
        )

    async def signed_url(
        self, asset_id: str, *, referer: str, internal: bool | None = None
    ) -> SignedUrl:
        """A time-limited URL; ``internal`` sets ``X-Auvious-CreateInternalSignedUrl``."""
        headers = {"Referer": referer}
        if internal is not None:
            headers["X-Auvious-CreateInternalSignedUrl"] = "true" if internal else "false"
        return await self._fetch(
            SIGNED_URL, SignedUrl, path_params={"assetId": asset_id}, headers=headers
        )

    async def find(self, application_id: str) -> list[Asset]:
        return await self._fetch(FIND, list[Asset], query={"applicationId": application_id})

    async def get_signed(self, asset_id: str, expiration: int, signature: str) -> bytes:
        return await self._download(
            GET_SIGNED,
            path_params={"assetId": asset_id, "expiration": expiration},
            query={"signature": signature},
        )
