"""Snapshots and camera requests (`/snapshots/...`)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from agent.api.models.base import OpenEnum, WireDatetime, WireModel
from agent.api.models.common import SessionType

__all__ = [
    "CameraRequestType",
    "CreateSnapshotSignedURLWebCommand",
    "Snapshot",
    "SnapshotAcquireForm",
    "SnapshotApprovalProcessingResult",
    "SnapshotApproveWebCommand",
    "SnapshotCameraRequestRespondWebCommand",
    "SnapshotCameraRequestWebCommand",
    "SnapshotDiscardWebCommand",
    "SnapshotQuery",
    "SnapshotRequestResult",
    "SnapshotRequestWebCommand",
    "SnapshotState",
    "SnapshotUploadForm",
    "SnapshotUploadResult",
]


class CameraRequestType(StrEnum):
    """Known camera requests; the contract lets callers send others ("what suits you")."""

    CAMERA_SWITCH = "CAMERA_SWITCH"
    FLASH_ON = "FLASH_ON"
    FLASH_OFF = "FLASH_OFF"


class SnapshotState(StrEnum):
    UPLOADED = "UPLOADED"
    APPROVED = "APPROVED"
    DISCARDED = "DISCARDED"


SUFFIX_PATTERN = r"^\.?[A-Za-z0-9]{1,10}$"
"""A snapshot's suffix: a label only (the stored extension comes from the image bytes)."""


class SnapshotRequestWebCommand(WireModel):
    """`POST /snapshots/request`; answers `SnapshotRequestResult`."""

    application_id: str
    user_endpoint_id: str
    target_user_id: str
    target_user_endpoint_id: str
    session_type: SessionType | None = None
    session_id: str | None = None
    interaction_id: str | None = None
    snapshot_type: str | None = None


class SnapshotRequestResult(WireModel):
    snapshot_id: str | None = None


class SnapshotAcquireForm(WireModel):
    """Non-file fields of the multipart `POST /snapshots/acquire` (the file part is `image`)."""

    snapshot_id: str
    user_endpoint_id: str
    snapshot_type: str
    snapshot_suffix: str = Field(pattern=SUFFIX_PATTERN)
    snapshot_mime_type: str


class SnapshotUploadForm(WireModel):
    """Non-file fields of the multipart `POST /snapshots/upload` (the file part is `image`)."""

    related_snapshot_id: str | None = None
    application_id: str
    target_user_id: str
    target_user_endpoint_id: str
    interaction_id: str
    user_endpoint_id: str
    snapshot_type: str
    snapshot_suffix: str = Field(pattern=SUFFIX_PATTERN)
    snapshot_mime_type: str


class SnapshotUploadResult(WireModel):
    snapshot_id: str | None = None


class SnapshotApproveWebCommand(WireModel):
    """`POST /snapshots/approve` (204); `snapshot_type` overrides the request's."""

    snapshot_id: str
    user_endpoint_id: str
    snapshot_type: str | None = None


class SnapshotDiscardWebCommand(WireModel):
    """`POST /snapshots/discard` (204)."""

    snapshot_id: str
    user_endpoint_id: str


class CreateSnapshotSignedURLWebCommand(WireModel):
    """`POST /snapshots/signedUrl` (with a `Referer` header); answers `SignedUrl`."""

    snapshot_id: str
    create_internal_signed_url: bool | None = None


class SnapshotCameraRequestWebCommand(WireModel):
    """`POST /snapshots/cameraRequest`; answers the request id as a bare JSON string."""

    user_endpoint_id: str
    target_user_id: str
    target_user_endpoint_id: str
    session_type: SessionType | None = None
    session_id: str | None = None
    camera_request_type: OpenEnum[CameraRequestType]


class SnapshotCameraRequestRespondWebCommand(WireModel):
    """`POST /snapshots/cameraRequestRespond` (204)."""

    snapshot_camera_request_id: str
    user_endpoint_id: str
    succeeded: bool
    additional_information: str | None = None


class SnapshotApprovalProcessingResult(WireModel):
    succeeded: bool | None = None
    additional_information: str | None = None


class SnapshotQuery(WireModel):
    """Query of `GET /snapshots`: the snapshots of one interaction."""

    interaction_id: str


class Snapshot(WireModel):
    """`GET /snapshots/{id}`; `GET /snapshots?interactionId=` answers a list of these."""

    id: str | None = None
    related_snapshot_id: str | None = None
    organization_id: str | None = None
    application_id: str | None = None
    requester_user_id: str | None = None
    requester_user_endpoint_id: str | None = None
    user_id: str | None = None
    user_endpoint_id: str | None = None
    session_type: OpenEnum[SessionType] | None = None
    session_id: str | None = None
    timestamp: WireDatetime | None = None
    interaction_id: str | None = None
    type: str | None = None
    path: str | None = None
    state: OpenEnum[SnapshotState] | None = None
    request_processing_result: SnapshotRequestResult | None = None
    approval_processing_result: SnapshotApprovalProcessingResult | None = None
    suffix: str | None = None
    mime_type: str | None = None
    created_at: WireDatetime | None = None
    version: int | None = None
    approved: bool | None = None
