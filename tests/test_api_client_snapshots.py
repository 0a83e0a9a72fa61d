"""The API client against the embedded platform: snapshots and camera requests
(multipart acquire and upload, signed URLs), with the bad-input and
other-organization cases. Real HTTP on loopback, the real server."""

from __future__ import annotations

import uuid

import pytest

from agent.api.endpoints import snapshots as snapshot_calls
from agent.api.errors import ApiError
from agent.api.models.common import SessionType
from agent.api.models.snapshots import (
    CameraRequestType,
    CreateSnapshotSignedURLWebCommand,
    SnapshotAcquireForm,
    SnapshotApproveWebCommand,
    SnapshotCameraRequestRespondWebCommand,
    SnapshotCameraRequestWebCommand,
    SnapshotDiscardWebCommand,
    SnapshotRequestWebCommand,
    SnapshotState,
    SnapshotUploadForm,
)
from tests.api_client_support import (
    AGENT2,
    APPLICATION,
    REFERER,
    ClientFactory,
    connect,
    joined_conference,
    jpeg,
    server,
    signed_parts,
    two_members,
)

__all__ = ["connect", "server"]  # fixtures, imported for pytest


async def test_snapshot_request_acquire_approve_and_download(connect: ClientFactory) -> None:
    requester, requester_endpoint, target, target_endpoint = await two_members(connect)
    conference_id = await joined_conference(
        (requester, requester_endpoint), (target, target_endpoint)
    )
    target_user = (await target.claims()).sub
    assert target_user
    interaction_id = "interaction-" + uuid.uuid4().hex
    requested = await requester.snapshots.request(
        SnapshotRequestWebCommand(
            application_id=APPLICATION,
            user_endpoint_id=requester_endpoint,
            target_user_id=target_user,
            target_user_endpoint_id=target_endpoint,
            session_type=SessionType.CONFERENCE,
            session_id=conference_id,
            interaction_id=interaction_id,
            snapshot_type="id-card",
        )
    )
    snapshot_id = requested.snapshot_id
    assert snapshot_id
    image = jpeg()
    await target.snapshots.acquire(
        SnapshotAcquireForm(
            snapshot_id=snapshot_id,
            user_endpoint_id=target_endpoint,
            snapshot_type="id-card",
            snapshot_suffix="jpg",
            snapshot_mime_type="image/jpeg",
        ),
        image,
    )
    stored = await requester.snapshots.get(snapshot_id)
    assert stored.id == snapshot_id
    assert stored.state == SnapshotState.UPLOADED
    assert snapshot_id in {s.id for s in await requester.snapshots.find(interaction_id)}

    signed = await requester.snapshots.signed_url(
        CreateSnapshotSignedURLWebCommand(snapshot_id=snapshot_id), referer=REFERER
    )
    assert signed.url and signed.valid_until
    assert await requester.download(signed.url) == image
    assert await requester.snapshots.get_signed(*signed_parts(signed.url)) == image
    record_id, expiration, signature = signed_parts(signed.url)
    with pytest.raises(ApiError) as forged:
        await requester.snapshots.get_signed(record_id, expiration, signature[::-1])
    assert forged.value.status == 403

    await requester.snapshots.approve(
        SnapshotApproveWebCommand(snapshot_id=snapshot_id, user_endpoint_id=requester_endpoint)
    )
    assert (await requester.snapshots.get(snapshot_id)).state == SnapshotState.APPROVED

    stranger = await connect(AGENT2)
    with pytest.raises(ApiError) as walled:
        await stranger.snapshots.get(snapshot_id)
    assert walled.value.status in (403, 404)


async def test_snapshot_discard_and_unrequested_upload(connect: ClientFactory) -> None:
    requester, requester_endpoint, target, target_endpoint = await two_members(connect)
    conference_id = await joined_conference(
        (requester, requester_endpoint), (target, target_endpoint)
    )
    requester_user = (await requester.claims()).sub
    target_user = (await target.claims()).sub
    assert requester_user and target_user
    requested = await requester.snapshots.request(
        SnapshotRequestWebCommand(
            application_id=APPLICATION,
            user_endpoint_id=requester_endpoint,
            target_user_id=target_user,
            target_user_endpoint_id=target_endpoint,
            session_type=SessionType.CONFERENCE,
            session_id=conference_id,
        )
    )
    assert requested.snapshot_id
    await target.snapshots.acquire(
        SnapshotAcquireForm(
            snapshot_id=requested.snapshot_id,
            user_endpoint_id=target_endpoint,
            snapshot_type="face",
            snapshot_suffix="jpg",
            snapshot_mime_type="image/jpeg",
        ),
        jpeg(),
    )
    await requester.snapshots.discard(
        SnapshotDiscardWebCommand(
            snapshot_id=requested.snapshot_id, user_endpoint_id=requester_endpoint
        )
    )
    discarded = await requester.snapshots.get(requested.snapshot_id)
    assert discarded.state == SnapshotState.DISCARDED

    interaction_id = "interaction-" + uuid.uuid4().hex
    uploaded = await target.snapshots.upload(
        SnapshotUploadForm(
            application_id=APPLICATION,
            target_user_id=requester_user,
            target_user_endpoint_id=requester_endpoint,
            interaction_id=interaction_id,
            user_endpoint_id=target_endpoint,
            snapshot_type="document",
            snapshot_suffix="jpg",
            snapshot_mime_type="image/jpeg",
        ),
        jpeg(level=30),
    )
    found = await requester.snapshots.find(interaction_id)
    assert [s.id for s in found] == [uploaded.snapshot_id]
    assert found[0].state == SnapshotState.UPLOADED


async def test_camera_request_and_response(connect: ClientFactory) -> None:
    requester, requester_endpoint, target, target_endpoint = await two_members(connect)
    conference_id = await joined_conference(
        (requester, requester_endpoint), (target, target_endpoint)
    )
    target_user = (await target.claims()).sub
    assert target_user
    request_id = await requester.snapshots.camera_request(
        SnapshotCameraRequestWebCommand(
            user_endpoint_id=requester_endpoint,
            target_user_id=target_user,
            target_user_endpoint_id=target_endpoint,
            session_type=SessionType.CONFERENCE,
            session_id=conference_id,
            camera_request_type=CameraRequestType.FLASH_ON,
        )
    )
    assert isinstance(request_id, str) and request_id
    await target.snapshots.camera_request_respond(
        SnapshotCameraRequestRespondWebCommand(
            snapshot_camera_request_id=request_id,
            user_endpoint_id=target_endpoint,
            succeeded=False,
            additional_information="no torch on this device",
        )
    )
    with pytest.raises(ApiError) as unknown:
        await target.snapshots.camera_request_respond(
            SnapshotCameraRequestRespondWebCommand(
                snapshot_camera_request_id="no-such-request",
                user_endpoint_id=target_endpoint,
                succeeded=True,
            )
        )
    assert unknown.value.status == 404


async def test_acquire_without_image_is_refused_naming_it(connect: ClientFactory) -> None:
    requester, requester_endpoint, target, target_endpoint = await two_members(connect)
    await joined_conference((requester, requester_endpoint), (target, target_endpoint))
    target_user = (await target.claims()).sub
    assert target_user
    requested = await requester.snapshots.request(
        SnapshotRequestWebCommand(
            application_id=APPLICATION,
            user_endpoint_id=requester_endpoint,
            target_user_id=target_user,
            target_user_endpoint_id=target_endpoint,
        )
    )
    assert requested.snapshot_id
    # Straight through the transport: the client's own acquire() always sends the image.
    with pytest.raises(ApiError) as caught:
        await target.http.request(
            snapshot_calls.ACQUIRE,
            form={
                "snapshotId": requested.snapshot_id,
                "userEndpointId": target_endpoint,
                "snapshotType": "face",
                "snapshotSuffix": "jpg",
                "snapshotMimeType": "image/jpeg",
            },
        )
    assert caught.value.status == 400
    assert "image" in caught.value.message
    assert caught.value.operation == "acquireSnapshot"
