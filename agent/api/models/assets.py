"""Assets (`/assets...`): files an application stores for roles to read (logos, media)."""

from __future__ import annotations

from pydantic import Field

from agent.api.models.base import WireDatetime, WireModel

__all__ = ["Asset", "AssetQuery", "AssetUploadForm"]


def _split_roles(roles: str) -> list[str]:
    return [role.strip() for role in roles.split(",") if role.strip()]


class AssetUploadForm(WireModel):
    """Non-file fields of the multipart `POST /assets/{assetId}` (file part: `file`)."""

    application_id: str
    category: str
    filename: str | None = None
    roles_allowed_access: str = Field(min_length=1)

    @property
    def roles(self) -> list[str]:
        """`roles_allowed_access` is a comma separated list on the wire (`admin,customer`)."""
        return _split_roles(self.roles_allowed_access)


class AssetQuery(WireModel):
    """Query of `GET /assets`."""

    application_id: str


class Asset(WireModel):
    """One asset in the `GET /assets` list. The seed leaves this shape open (`{}`); the
    fields are those of the upload plus what the server records."""

    id: str | None = None
    organization_id: str | None = None
    application_id: str | None = None
    category: str | None = None
    filename: str | None = None
    roles_allowed_access: str | None = None
    content_type: str | None = None
    size: int | None = None
    created_at: WireDatetime | None = None
