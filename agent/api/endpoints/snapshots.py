"""Snapshots and camera requests, including the multipart acquire and upload."""

from __future__ import annotations

from agent.api.endpoints.base import Endpoints, form_fields
from agent.api.http import Call, FilePart
from agent.api.models.common import SignedUrl
from agent.api.models.snapshots import (
    CreateSnapshotSignedURLWebCommand,
    Snapshot,
    SnapshotAcquireForm,
    SnapshotApproveWebCommand,
    SnapshotCameraRequestRespondWebCommand,
    SnapshotCameraRequestWebCommand,
    SnapshotDiscardWebCommand,
    SnapshotRequestResult,
    SnapshotRequestWebCommand,
    SnapshotUploadForm,
    SnapshotUploadResult,
)

__all__ = ["Snapshots"]

_BASE = "/rtc-api/snapshots"
REQUEST = Call("requestSnapshot", "POST", f"{_BASE}/request")
ACQUIRE = Call("acquireSnapshot", "POST", f"{_BASE}/acquire")
UPLOAD = Call("uploadSnapshot", "POST", f"{_BASE}/upload")
APPROVE = Call("approveSnapshot", "POST", f"{_BASE}/approve")
DISCARD = Call("discardSnapshot", "POST", f"{_BASE}/discard")
CAMERA_REQUEST = Call("createCameraRequest", "POST", f"{_BASE}/cameraRequest")
CAMERA_RESPOND = Call("respondToCameraRequest", "POST", f"{_BASE}/cameraRequestRespond")
SIGNED_URL = Call("createSnapshotSignedUrl", "POST", f"{_BASE}/signedUrl")
FIND = Call("findSnapshots", "GET", _BASE)
GET = Call("getSnapshot", "GET", f"{_BASE}/{{snapshotId}}")
# The signature is the credential of a signed URL: no bearer token goes with it.
GET_SIGNED = Call(
    "getSignedSnapshot",
    "GET",
    f"{_BASE}/signed/{{snapshotId}}/{{expiration}}",
    authenticated=False,
)


def _image(snapshot_id: str | None, suffix: str, mime_type: str, image: bytes) -> FilePart:
    return FilePart(image, f"{snapshot_id or 'snapshot'}.{suffix.lstrip('.')}", mime_type)


class Snapshots(Endpoints):
    """``client.snapshots``."""

    async def request(self, command: SnapshotRequestWebCommand) -> SnapshotRequestResult:
        """Ask a target endpoint for a snapshot; it gets a SnapshotRequestedEvent."""
        return await self._fetch(REQUEST, SnapshotRequestResult, command)

    async def acquire(self, form: SnapshotAcquireForm, image: bytes) -> None:
        """The target's answer to a request: the captured image (multipart)."""
        part = _image(form.snapshot_id, form.snapshot_suffix, form.snapshot_mime_type, image)
        await self._http.request(ACQUIRE, form=form_fields(form, image=part))

    async def upload(self, form: SnapshotUploadForm, image: bytes) -> SnapshotUploadResult:
        """Send an unrequested snapshot to a target (multipart)."""
        part = _image(
            form.related_snapshot_id, form.snapshot_suffix, form.snapshot_mime_type, image
        )
        return await self._fetch_optional(
            UPLOAD, SnapshotUploadResult, SnapshotUploadResult(), form=form_fields(form, image=part)
        )

    async def approve(self, command: SnapshotApproveWebCommand) -> None:
        await self._send(APPROVE, command)

    async def discard(self, command: SnapshotDiscardWebCommand) -> None:
        await self._send(DISCARD, command)

    async def camera_request(self, command: SnapshotCameraRequestWebCommand) -> str:
        """Ask a target to switch camera or turn its torch; answers the request id."""
        return await self._fetch(CAMERA_REQUEST, str, command)

    async def camera_request_respond(self, command: SnapshotCameraRequestRespondWebCommand) -> None:
        await self._send(CAMERA_RESPOND, command)

    async def signed_url(
        self, command: CreateSnapshotSignedURLWebCommand, *, referer: str
    ) -> SignedUrl:
        """A time-limited download URL; the contract requires a ``Referer``."""
        return await self._fetch(SIGNED_URL, SignedUrl, command, headers={"Referer": referer})

    async def find(self, interaction_id: str) -> list[Snapshot]:
        """``GET /snapshots?interactionId=``: the snapshots of an interaction."""
        return await self._fetch(FIND, list[Snapshot], query={"interactionId": interaction_id})

    async def get(self, snapshot_id: str) -> Snapshot:
        return await self._fetch(GET, Snapshot, path_params={"snapshotId": snapshot_id})

    async def get_signed(self, snapshot_id: str, expiration: int, signature: str) -> bytes:
        """The image behind a signed URL, from its parts (see ``AuviousClient.download``)."""
        return await self._download(
            GET_SIGNED,
            path_params={"snapshotId": snapshot_id, "expiration": expiration},
            query={"signature": signature},
        )
