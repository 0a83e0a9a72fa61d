"""`/rtc-api/conferences/...`: each handler reads its command, calls the service, answers."""

from __future__ import annotations

from aiohttp import web

from agent.api.models.conferences import (
    ConferencePublishResult,
    ConferencePublishStreamIceCandidatesWebCommand,
    ConferencePublishStreamWebCommand,
    ConferenceStopViewStreamWebCommand,
    ConferenceStreamViewResult,
    ConferenceSummary,
    ConferenceUnpublishStreamWebCommand,
    ConferenceUpdatePublishedStreamBitrateWebCommand,
    ConferenceViewStreamIceCandidatesWebCommand,
    ConferenceViewStreamWebCommand,
    CreateConferenceWebCommand,
    EndConferenceWebCommand,
    JoinConferenceWebCommand,
    LeaveConferenceWebCommand,
    SendEventResponse,
    SendEventToConferenceWebCommand,
    SetInteractionIdWebCommand,
    UpdateConferenceMetadataWebCommand,
    UpdateConferenceParticipantMetadataWebCommand,
    UpdateConferenceStreamMetadataWebCommand,
)
from server.auth.caller import CALLER_KEY, Caller
from server.conferences.service import Conferences
from server.conferences.state import ConferenceState
from server.http import json_response, no_content, parse_body, required_query_int
from server.platform import platform_of

BASE = "/rtc-api/conferences"


def setup(app: web.Application) -> None:
    post = {
        "create": create,
        "join": join,
        "leave": leave,
        "end": end,
        "interaction": interaction,
        "publishStream": publish_stream,
        "unpublishStream": unpublish_stream,
        "viewStream": view_stream,
        "stopViewStream": stop_view_stream,
        "addPublishStreamIceCandidates": add_publish_candidates,
        "addViewStreamIceCandidates": add_view_candidates,
        "updateMetadata": update_metadata,
        "updateStreamMetadata": update_stream_metadata,
        "updateParticipantMetadata": update_participant_metadata,
        "updatePublishedStreamBitrate": update_bitrate,
        "sendEvent": send_event,
    }
    for name, handler in post.items():
        app.router.add_post(f"{BASE}/{name}", handler)
    # `active` before `{id}` so it is not read as a conference id.
    app.router.add_get(f"{BASE}/active", active)
    app.router.add_get(f"{BASE}/{{id}}", get_conference)
    app.router.add_get(f"{BASE}/{{id}}/simpleView", simple_view)
    app.router.add_get(f"{BASE}/{{id}}/events", events)


def _service(request: web.Request) -> tuple[Conferences, Caller]:
    return platform_of(request).conferences, request[CALLER_KEY]


def _summary(conference: ConferenceState) -> web.Response:
    return json_response(
        ConferenceSummary(id=conference.id, version=conference.version, mode=conference.mode)
    )


async def create(request: web.Request) -> web.Response:
    command = await parse_body(request, CreateConferenceWebCommand)
    service, caller = _service(request)
    return _summary(service.create(caller, command))


async def join(request: web.Request) -> web.Response:
    command = await parse_body(request, JoinConferenceWebCommand)
    service, caller = _service(request)
    return _summary(service.join(caller, command))


async def leave(request: web.Request) -> web.Response:
    c = await parse_body(request, LeaveConferenceWebCommand)
    service, caller = _service(request)
    await service.leave(caller, c.conference_id, c.user_endpoint_id, c.reason)
    return no_content()


async def end(request: web.Request) -> web.Response:
    c = await parse_body(request, EndConferenceWebCommand)
    service, caller = _service(request)
    await service.end(caller, c.conference_id, c.user_endpoint_id, c.reason)
    return no_content()


async def interaction(request: web.Request) -> web.Response:
    c = await parse_body(request, SetInteractionIdWebCommand)
    service, caller = _service(request)
    service.set_interaction(caller, c.conference_id, c.interaction_id, c.user_endpoint_id)
    return no_content()


async def publish_stream(request: web.Request) -> web.Response:
    command = await parse_body(request, ConferencePublishStreamWebCommand)
    service, caller = _service(request)
    stream_id, answer = await service.publish(caller, command)
    return json_response(ConferencePublishResult(stream_id=stream_id, sdp_answer=answer))


async def unpublish_stream(request: web.Request) -> web.Response:
    c = await parse_body(request, ConferenceUnpublishStreamWebCommand)
    service, caller = _service(request)
    await service.unpublish(caller, c.conference_id, c.user_endpoint_id, c.stream_id)
    return no_content()


async def view_stream(request: web.Request) -> web.Response:
    command = await parse_body(request, ConferenceViewStreamWebCommand)
    service, caller = _service(request)
    viewer_id, answer = await service.view(caller, command)
    return json_response(ConferenceStreamViewResult(viewer_id=viewer_id, sdp_answer=answer))


async def stop_view_stream(request: web.Request) -> web.Response:
    c = await parse_body(request, ConferenceStopViewStreamWebCommand)
    service, caller = _service(request)
    await service.stop_view(caller, c.conference_id, c.user_endpoint_id, c.stream_id, c.viewer_id)
    return no_content()


async def add_publish_candidates(request: web.Request) -> web.Response:
    c = await parse_body(request, ConferencePublishStreamIceCandidatesWebCommand)
    service, caller = _service(request)
    await service.add_publish_candidates(
        caller, c.conference_id, c.user_endpoint_id, c.stream_id, c.ice_candidates
    )
    return no_content()


async def add_view_candidates(request: web.Request) -> web.Response:
    c = await parse_body(request, ConferenceViewStreamIceCandidatesWebCommand)
    service, caller = _service(request)
    await service.add_view_candidates(
        caller, c.conference_id, c.user_endpoint_id, c.stream_id, c.viewer_id, c.ice_candidates
    )
    return no_content()


async def update_metadata(request: web.Request) -> web.Response:
    command = await parse_body(request, UpdateConferenceMetadataWebCommand)
    service, caller = _service(request)
    service.update_metadata(caller, command)
    return no_content()


async def update_stream_metadata(request: web.Request) -> web.Response:
    c = await parse_body(request, UpdateConferenceStreamMetadataWebCommand)
    service, caller = _service(request)
    service.update_stream_metadata(
        caller, c.conference_id, c.user_endpoint_id, c.stream_id, c.new_metadata
    )
    return no_content()


async def update_participant_metadata(request: web.Request) -> web.Response:
    c = await parse_body(request, UpdateConferenceParticipantMetadataWebCommand)
    service, caller = _service(request)
    service.update_participant_metadata(caller, c.conference_id, c.user_endpoint_id, c.new_metadata)
    return no_content()


async def update_bitrate(request: web.Request) -> web.Response:
    command = await parse_body(request, ConferenceUpdatePublishedStreamBitrateWebCommand)
    service, caller = _service(request)
    await service.set_bitrate(caller, command)
    return no_content()


async def send_event(request: web.Request) -> web.Response:
    command = await parse_body(request, SendEventToConferenceWebCommand)
    service, caller = _service(request)
    return json_response(SendEventResponse(events_sent=service.send_event(caller, command)))


async def get_conference(request: web.Request) -> web.Response:
    service, caller = _service(request)
    return json_response(service.get(caller, request.match_info["id"]).aggregate())


async def simple_view(request: web.Request) -> web.Response:
    service, caller = _service(request)
    return json_response(service.get(caller, request.match_info["id"]).simple_view())


async def events(request: web.Request) -> web.Response:
    version = required_query_int(request, "v")
    service, caller = _service(request)
    found = await service.events_since(caller, request.match_info["id"], version)
    return web.json_response(found)


async def active(request: web.Request) -> web.Response:
    service, caller = _service(request)
    organization = caller.organization_for(request.query.get("organizationId"))
    return json_response([c.aggregate() for c in service.active(caller, organization)])
