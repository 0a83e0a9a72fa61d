"""The API client against the embedded platform: file transfers and assets
(multipart, transaction ids, signed URLs), with the bad-input and
other-organization cases. Real HTTP on loopback, the real server."""

from __future__ import annotations

import uuid

import pytest

from agent.api.endpoints import assets as asset_calls
from agent.api.endpoints import filetransfers as filetransfer_calls
from agent.api.errors import ApiError
from agent.api.http import FilePart
from agent.api.models.assets import AssetUploadForm
from agent.api.models.filetransfers import FileTransferFilter, FileTransferForm
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


async def test_file_transfer_retry_safe_upload_and_download(connect: ClientFactory) -> None:
    sender, sender_endpoint, receiver, receiver_endpoint = await two_members(connect)
    conference_id = await joined_conference(
        (sender, sender_endpoint), (receiver, receiver_endpoint)
    )
    receiver_user = (await receiver.claims()).sub
    assert receiver_user
    form = FileTransferForm(
        user_endpoint_id=sender_endpoint,
        application_id=APPLICATION,
        conference_id=conference_id,
        target_id=receiver_user,
    )
    content = b"%PDF-1.4 pretend document\n"
    part = FilePart(content, "contract.pdf", "application/pdf")
    transaction_id = uuid.uuid4().hex
    first = await sender.file_transfers.transfer(form, part, transaction_id=transaction_id)
    again = await sender.file_transfers.transfer(form, part, transaction_id=transaction_id)
    assert first.file_transfer_id and again.file_transfer_id == first.file_transfer_id

    listed = await sender.file_transfers.find(FileTransferFilter(conference_id=conference_id))
    assert [t.id for t in listed] == [first.file_transfer_id]
    assert first.file_transfer_id in {t.id for t in await receiver.file_transfers.find()}

    signed = await receiver.file_transfers.signed_url(first.file_transfer_id, referer=REFERER)
    assert signed.url
    assert await receiver.download(signed.url) == content
    assert await receiver.file_transfers.get_signed(*signed_parts(signed.url)) == content

    stranger = await connect(AGENT2)
    with pytest.raises(ApiError) as walled:
        await stranger.file_transfers.signed_url(first.file_transfer_id, referer=REFERER)
    assert walled.value.status in (403, 404)


async def test_assets_upload_find_download_delete(connect: ClientFactory) -> None:
    agent = await connect()
    asset_id = "logo-" + uuid.uuid4().hex[:8]
    image = jpeg(level=200)
    await agent.assets.upload(
        asset_id,
        AssetUploadForm(
            application_id=APPLICATION,
            category="branding",
            filename="logo.jpg",
            roles_allowed_access="AGENT,CUSTOMER",
        ),
        FilePart(image, "logo.jpg", "image/jpeg"),
    )
    found = await agent.assets.find(APPLICATION)
    assert asset_id in {a.id for a in found}
    signed = await agent.assets.signed_url(asset_id, referer=REFERER, internal=False)
    assert signed.url
    assert await agent.download(signed.url) == image
    assert await agent.assets.get_signed(*signed_parts(signed.url)) == image

    stranger = await connect(AGENT2)
    assert asset_id not in {a.id for a in await stranger.assets.find(APPLICATION)}
    with pytest.raises(ApiError) as walled:
        await stranger.assets.delete(asset_id)
    assert walled.value.status in (403, 404)

    await agent.assets.delete(asset_id)
    assert asset_id not in {a.id for a in await agent.assets.find(APPLICATION)}
    with pytest.raises(ApiError) as gone:
        await agent.download(signed.url)
    # The signature covered the organization's record, which is gone: answered as a URL that
    # matches nothing (403), so a URL never tells whether some organization holds the id.
    assert gone.value.status == 403


async def test_file_bad_input_is_refused_naming_the_field(connect: ClientFactory) -> None:
    client = await connect()
    # Straight through the transport: the models would not let these requests be built.
    with pytest.raises(ApiError) as both:
        await client.http.request(
            filetransfer_calls.FIND, query={"interactionId": "i-1", "conferenceId": "c-1"}
        )
    assert both.value.status == 400
    assert "interactionId" in both.value.message or "conferenceId" in both.value.message
    with pytest.raises(ApiError) as no_roles:
        await client.http.request(
            asset_calls.UPLOAD,
            path_params={"assetId": "logo"},
            form={
                "applicationId": APPLICATION,
                "category": "branding",
                "file": FilePart(b"bytes", "logo.bin"),
            },
        )
    assert no_roles.value.status == 400
    assert "rolesAllowedAccess" in no_roles.value.message
