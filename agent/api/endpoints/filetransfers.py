"""File transfers: multipart upload to a target user, listing, signed URLs."""

from __future__ import annotations

from agent.api.endpoints.base import (
    TRANSACTION_HEADER,
    Endpoints,
    form_fields,
    new_transaction_id,
    query_of,
)
from agent.api.http import Call, FilePart
from agent.api.models.common import SignedUrl
from agent.api.models.filetransfers import (
    FileTransfer,
    FileTransferFilter,
    FileTransferForm,
    FileTransferResult,
    FileTransferTargetType,
)

__all__ = ["FileTransfers"]

_BASE = "/rtc-api/filetransfers"
FIND = Call("findFileTransfers", "GET", _BASE)
TRANSFER = Call("transferFile", "POST", _BASE)
SIGNED_URL = Call("createFileTransferSignedUrl", "POST", f"{_BASE}/{{fileTransferId}}/signedUrl")
GET_SIGNED = Call(
    "getSignedFileTransfer",
    "GET",
    f"{_BASE}/signed/{{fileTransferId}}/{{expiration}}",
    authenticated=False,
)


class FileTransfers(Endpoints):
    """``client.file_transfers``."""

    async def find(self, query: FileTransferFilter | None = None) -> list[FileTransfer]:
        """The caller's transfers, or all (``all``), by interaction or by conference."""
        params = query_of(query) if query is not None else None
        return await self._fetch(FIND, list[FileTransfer], query=params)

    async def transfer(
        self,
        form: FileTransferForm,
        file: FilePart,
        *,
        target_type: FileTransferTargetType | str = FileTransferTargetType.USER,
        transaction_id: str | None = None,
    ) -> FileTransferResult:
        """Send a file to a target; its endpoints get a FileTransferEvent.

        ``transaction_id`` (``X-Auvious-TransactionId``) is generated when not given and stays
        the same on retries, so the platform does not store the file twice."""
        headers = {TRANSACTION_HEADER: transaction_id or new_transaction_id()}
        return await self._fetch(
            TRANSFER,
            FileTransferResult,
            query={"targetType": str(target_type)},
            form=form_fields(form, file=file),
            headers=headers,
        )

    async def signed_url(self, file_transfer_id: str, *, referer: str) -> SignedUrl:
        return await self._fetch(
            SIGNED_URL,
            SignedUrl,
            path_params={"fileTransferId": file_transfer_id},
            headers={"Referer": referer},
        )

    async def get_signed(self, file_transfer_id: str, expiration: int, signature: str) -> bytes:
        return await self._download(
            GET_SIGNED,
            path_params={"fileTransferId": file_transfer_id, "expiration": expiration},
            query={"signature": signature},
        )
