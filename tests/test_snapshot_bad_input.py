"""Wrong snapshot calls made through the agent's own client leave the platform's stored files
as they were: each is refused with its status and a message naming the problem, and the data
directory (file names and content hashes) is the same before and after.

The server-side cases in plain HTTP (multipart details, signed URL tampering, walls) are in
`test_server_records_snapshots.py`; this file adds the agent's view and the storage check.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable
from pathlib import Path

import pytest

from agent.api.errors import ApiError
from agent.api.models.snapshots import (
    SnapshotAcquireForm,
    SnapshotApproveWebCommand,
    SnapshotRequestWebCommand,
    SnapshotState,
)
from agent.participant import Participant
from agent.snapshot import ImageFormat, encode_image
from media.camera import SwitchableCamera
from server.embedded import EmbeddedServer
from server.snapshots import MAX_IMAGE_BYTES
from tests.participant_support import credentials


def _tree(root: Path) -> dict[str, str]:
    """Every stored file (relative name -> sha256), the record database and its write-ahead
    log included; SQLite's shared-memory index (`-shm`) changes on reads, so it is left out."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.name.endswith("-shm")
    }


async def _refused(call: Awaitable[object], status: int, *words: str) -> ApiError:
    with pytest.raises(ApiError) as caught:
        await call
    error = caught.value
    assert error.status == status, error
    assert all(word in error.message for word in words), error.message
    return error


async def test_wrong_acquires_and_decisions_change_no_stored_file(server: EmbeddedServer) -> None:
    frame = SwitchableCamera.synthetic(width=320, height=180).render(0)
    image = await encode_image(frame, ImageFormat.JPEG)
    async with (
        Participant(server.base_url, credentials("agent1"), name="requester") as requester,
        Participant(server.base_url, credentials("agent2"), name="target") as target,
    ):
        assert requester.endpoint_id and target.endpoint_id and target.user_id

        async def request() -> str:
            assert requester.endpoint_id and target.endpoint_id and target.user_id
            answer = await requester.api.snapshots.request(
                SnapshotRequestWebCommand(
                    application_id="app",
                    user_endpoint_id=requester.endpoint_id,
                    target_user_id=target.user_id,
                    target_user_endpoint_id=target.endpoint_id,
                    snapshot_type="CAM",
                )
            )
            assert answer.snapshot_id
            return answer.snapshot_id

        def form(snapshot_id: str, endpoint_id: str, suffix: str = "jpg") -> SnapshotAcquireForm:
            # model_construct: the client's own validation would refuse some of the bad input
            # before the server could be tested on it.
            return SnapshotAcquireForm.model_construct(
                snapshot_id=snapshot_id,
                user_endpoint_id=endpoint_id,
                snapshot_type="CAM",
                snapshot_suffix=suffix,
                snapshot_mime_type="image/jpeg",
            )

        answered, pending = await request(), await request()
        await target.api.snapshots.acquire(form(answered, target.endpoint_id), image)
        data_dir = server.config.data_dir
        before = _tree(data_dir)
        assert any(name.startswith("files/snapshots/") for name in before)

        snapshots = target.api.snapshots
        # Not the target: the requester answers its own request.
        await _refused(
            requester.api.snapshots.acquire(form(pending, requester.endpoint_id), image),
            403,
            "only the target endpoint",
        )
        # Not an image, whatever the declared mime type says.
        html = b"<html><script>alert(1)</script></html>"
        await _refused(snapshots.acquire(form(pending, target.endpoint_id), html), 400, "image:")
        # A real JPEG, but larger than the limit.
        huge = image + b"\x00" * MAX_IMAGE_BYTES
        await _refused(snapshots.acquire(form(pending, target.endpoint_id), huge), 413, "limit")
        # Path traversal through the suffix (also the file name the client derives from it)...
        traversal = form(pending, target.endpoint_id, suffix="../../platform.sqlite3")
        await _refused(snapshots.acquire(traversal, image), 400, "snapshotSuffix")
        # ...and through the snapshot id (the file part's name is built from it, too).
        sneaky = form("../../files/snapshots/x", target.endpoint_id)
        await _refused(snapshots.acquire(sneaky, image), 404, "../../files/snapshots/x")
        # A second answer to an answered request.
        await _refused(snapshots.acquire(form(answered, target.endpoint_id), image), 409, "already")
        # Decisions: an unknown id, one not acquired yet, and the target deciding.
        decide = requester.api.snapshots.approve
        error = await _refused(
            decide(
                SnapshotApproveWebCommand(
                    snapshot_id="no-such", user_endpoint_id=requester.endpoint_id
                )
            ),
            404,
            "no-such",
        )
        assert error.operation == "approveSnapshot" and "HTTP 404" in str(error)
        await _refused(
            decide(
                SnapshotApproveWebCommand(
                    snapshot_id=pending, user_endpoint_id=requester.endpoint_id
                )
            ),
            409,
            "not acquired yet",
        )
        await _refused(
            target.api.snapshots.approve(
                SnapshotApproveWebCommand(snapshot_id=answered, user_endpoint_id=target.endpoint_id)
            ),
            403,
            "requester",
        )

        assert _tree(data_dir) == before
        # None of it touched the records either: the pending request is still answerable.
        assert (await requester.api.snapshots.get(pending)).state is None
        await snapshots.acquire(form(pending, target.endpoint_id), image)
        after = _tree(data_dir)
        new = [name for name in after if name not in before]
        assert len(new) == 1 and new[0].startswith("files/snapshots/")
        assert len(new[0].removeprefix("files/snapshots/")) == 32  # generated, not ours
        stored = await requester.api.snapshots.get(pending)
        assert stored.state == SnapshotState.UPLOADED
