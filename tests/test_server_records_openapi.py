"""The OpenAPI document at /rtc-api/openapi.json: served without a token, it lists every
endpoint of the RTC API seed (v1.9.5) the platform serves, and its schemas are the shared wire
models (every reference resolves, required fields and camelCase names as on the wire)."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from agent.api.models.snapshots import SnapshotRequestWebCommand
from server.openapi import OperationSpec, operation
from server.snapshots import MAX_IMAGE_BYTES

# Every (method, path) of seed 002 (RTC API v1.9.5), as written there, plus the older
# /iceServers of PROTOCOL.md. Path parameter names are compared as placeholders only.
SEED_ENDPOINTS = [
    ("DELETE", "/rtc-api/assets/{assetId}"),
    ("GET", "/rtc-api/assets"),
    ("GET", "/rtc-api/assets/signed/{assetId}/{expiration}"),
    ("GET", "/rtc-api/conferences/active"),
    ("GET", "/rtc-api/conferences/{id}"),
    ("GET", "/rtc-api/conferences/{id}/events"),
    ("GET", "/rtc-api/conferences/{id}/simpleView"),
    ("GET", "/rtc-api/filetransfers"),
    ("GET", "/rtc-api/filetransfers/signed/{fileTransferId}/{expiration}"),
    ("GET", "/rtc-api/iceServers/v2"),
    ("GET", "/rtc-api/interactions"),
    ("GET", "/rtc-api/interactions/{interactionId}"),
    ("GET", "/rtc-api/ratings/conferences/{conferenceId}"),
    ("GET", "/rtc-api/ratings/interactions/{interactionId}"),
    ("GET", "/rtc-api/snapshots"),
    ("GET", "/rtc-api/snapshots/signed/{snapshotId}/{expiration}"),
    ("GET", "/rtc-api/snapshots/{snapshotId}"),
    ("POST", "/rtc-api/assets/{assetId}"),
    ("POST", "/rtc-api/assets/{assetId}/signedUrl"),
    ("POST", "/rtc-api/conferences/addPublishStreamIceCandidates"),
    ("POST", "/rtc-api/conferences/addViewStreamIceCandidates"),
    ("POST", "/rtc-api/conferences/create"),
    ("POST", "/rtc-api/conferences/end"),
    ("POST", "/rtc-api/conferences/interaction"),
    ("POST", "/rtc-api/conferences/join"),
    ("POST", "/rtc-api/conferences/leave"),
    ("POST", "/rtc-api/conferences/publishStream"),
    ("POST", "/rtc-api/conferences/sendEvent"),
    ("POST", "/rtc-api/conferences/stopViewStream"),
    ("POST", "/rtc-api/conferences/unpublishStream"),
    ("POST", "/rtc-api/conferences/updateMetadata"),
    ("POST", "/rtc-api/conferences/updateParticipantMetadata"),
    ("POST", "/rtc-api/conferences/updatePublishedStreamBitrate"),
    ("POST", "/rtc-api/conferences/updateStreamMetadata"),
    ("POST", "/rtc-api/conferences/viewStream"),
    ("POST", "/rtc-api/filetransfers"),
    ("POST", "/rtc-api/filetransfers/{fileTransferId}/signedUrl"),
    ("POST", "/rtc-api/interactions"),
    ("POST", "/rtc-api/ratings"),
    ("POST", "/rtc-api/snapshots/acquire"),
    ("POST", "/rtc-api/snapshots/approve"),
    ("POST", "/rtc-api/snapshots/cameraRequest"),
    ("POST", "/rtc-api/snapshots/cameraRequestRespond"),
    ("POST", "/rtc-api/snapshots/discard"),
    ("POST", "/rtc-api/snapshots/request"),
    ("POST", "/rtc-api/snapshots/signedUrl"),
    ("POST", "/rtc-api/snapshots/upload"),
    ("POST", "/rtc-api/talkdesk-integration/activity"),
    ("POST", "/rtc-api/talkdesk-integration/authorization-validator"),
    ("POST", "/rtc-api/talkdesk-integration/create"),
    ("POST", "/rtc-api/users/endpoints"),
    ("POST", "/rtc-api/users/endpoints/keepalive"),
    ("POST", "/rtc-api/users/endpoints/register"),
    ("POST", "/rtc-api/users/endpoints/sendEvent"),
    ("POST", "/rtc-api/users/endpoints/unregister"),
    ("PUT", "/rtc-api/interactions/{interactionId}"),
    ("GET", "/rtc-api/iceServers"),
]


def _shape(path: str) -> str:
    return re.sub(r"{\w+}", "{}", path)


async def _document(http: aiohttp.ClientSession) -> dict[str, Any]:
    async with http.get("/rtc-api/openapi.json") as response:  # no Authorization header
        assert response.status == 200
        document: dict[str, Any] = await response.json()
        return document


async def test_every_seed_endpoint_is_in_the_document(http: aiohttp.ClientSession) -> None:
    document = await _document(http)
    assert document["openapi"].startswith("3.")
    served = {
        (method.upper(), _shape(path))
        for path, operations in document["paths"].items()
        for method in operations
    }
    missing = [(m, p) for m, p in SEED_ENDPOINTS if (m, _shape(p)) not in served]
    assert missing == []
    apis = ("/rtc-api/", "/rtc-recorder/api/", "/composition/api/")
    assert all(p.startswith(apis) for p in document["paths"])
    operation_ids = [op["operationId"] for ops in document["paths"].values() for op in ops.values()]
    assert len(operation_ids) == len(set(operation_ids))


async def test_schemas_are_the_wire_models_and_references_resolve(
    http: aiohttp.ClientSession,
) -> None:
    document = await _document(http)
    schemas = document["components"]["schemas"]
    references = set(re.findall(r'"#/components/schemas/([^"]+)"', str(document).replace("'", '"')))
    assert references and references <= set(schemas)

    request = document["paths"]["/rtc-api/snapshots/request"]["post"]
    ref = request["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    snapshot_request = schemas[ref.rsplit("/", 1)[1]]
    assert (
        set(snapshot_request["required"])
        == {
            field.alias or name
            for name, field in SnapshotRequestWebCommand.model_fields.items()
            if field.is_required()
        }
        == {"applicationId", "userEndpointId", "targetUserId", "targetUserEndpointId"}
    )
    assert "sessionType" in snapshot_request["properties"]
    assert request["security"] and "401" in request["responses"]

    acquire = document["paths"]["/rtc-api/snapshots/acquire"]["post"]
    multipart = acquire["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert multipart["additionalProperties"] is False and "image" in multipart["required"]
    assert multipart["properties"]["image"] == {
        "type": "string",
        "format": "binary",
        "minLength": 1,  # an empty image is refused (400)
        "maxLength": MAX_IMAGE_BYTES,  # the limit the server answers 413 beyond
    }
    assert "204" in acquire["responses"] and "413" in acquire["responses"]

    listing = document["paths"]["/rtc-api/interactions"]["get"]
    parameters = {p["name"]: p for p in listing["parameters"]}
    assert parameters["start"]["required"] and parameters["start"]["in"] == "query"
    assert {"page", "size", "sort", "type", "recording", "onHoldDurationGt"} <= set(parameters)
    page_ref = listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert "totalElements" in schemas[page_ref.rsplit("/", 1)[1]]["properties"]

    signed = document["paths"]["/rtc-api/snapshots/signed/{snapshotId}/{expiration}"]["get"]
    assert "security" not in signed  # the signature is the credential
    ratings = document["paths"]["/rtc-api/ratings/interactions/{interactionId}"]["get"]
    items = ratings["responses"]["200"]["content"]["application/json"]["schema"]
    assert items["type"] == "array"
    rating = schemas[items["items"]["$ref"].rsplit("/", 1)[1]]
    assert {"userRole", "feedback", "score"} <= set(rating["properties"])


def test_operation_inputs_are_declared_once_in_the_signature() -> None:
    """Issue 12 item 7: the handler's `body: Model` is what the document states and what the
    handler receives; naming the model in `@operation` as well is refused, saying how."""

    @operation("Request a snapshot", status=204)
    async def handler(request: web.Request, body: SnapshotRequestWebCommand) -> web.Response:
        return web.Response(status=204)

    spec = handler.__dict__["__auvious_operation__"]
    assert isinstance(spec, OperationSpec) and spec.body is SnapshotRequestWebCommand
    with pytest.raises(TypeError, match="signature"):
        operation("old style", body=SnapshotRequestWebCommand)
