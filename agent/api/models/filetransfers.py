"""File transfers (`/filetransfers...`): multipart upload to a target, listing, signed URLs."""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from pydantic import ConfigDict, model_validator

from agent.api.models.base import WireDatetime, WireModel

__all__ = [
    "FileTransfer",
    "FileTransferFilter",
    "FileTransferForm",
    "FileTransferResult",
    "FileTransferTarget",
    "FileTransferTargetType",
]


class FileTransferTargetType(StrEnum):
    """The `targetType` query parameter; the seed lists only `user`."""

    USER = "user"


class FileTransferTarget(WireModel):
    """Query of `POST /filetransfers`: who the file is for."""

    target_type: FileTransferTargetType


class FileTransferForm(WireModel):
    """Non-file fields of the multipart `POST /filetransfers?targetType=user` (file part:
    `file`). `target_id` is the user whose endpoints all get a `FileTransferEvent`."""

    user_endpoint_id: str | None = None
    application_id: str
    interaction_id: str | None = None
    conference_id: str | None = None
    target_id: str


class FileTransferResult(WireModel):
    file_transfer_id: str | None = None


class FileTransferFilter(WireModel):
    """Query of `GET /filetransfers`; `all` widens it beyond the caller's own transfers."""

    model_config = ConfigDict(
        json_schema_extra={"not": {"required": ["interactionId", "conferenceId"]}}
    )

    interaction_id: str | None = None
    conference_id: str | None = None
    all: bool | None = None

    @model_validator(mode="after")
    def _exclusive(self) -> Self:
        if self.interaction_id is not None and self.conference_id is not None:
            raise ValueError("interactionId and conferenceId are mutually exclusive")
        return self


class FileTransfer(WireModel):
    """One stored transfer in the `GET /filetransfers` list. The seed leaves this shape
    open (`{}`); the fields are those of the upload plus what the server records."""

    id: str | None = None
    organization_id: str | None = None
    application_id: str | None = None
    user_id: str | None = None
    user_endpoint_id: str | None = None
    interaction_id: str | None = None
    conference_id: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    filename: str | None = None
    content_type: str | None = None
    size: int | None = None
    created_at: WireDatetime | None = None
