"""`/rtc-api/conferences/...`: each handler reads its command, calls the service, answers."""

from __future__ import annotations

from aiohttp import web

from agent.api.models.conferences import (
    ActiveConferencesQuery,
    Conference,
    ConferenceEventsQuery,
    ConferencePublishResult,
    ConferencePublishStreamIceCandidatesWebCommand,
    ConferencePublishStreamWebCommand,
    ConferenceSimpleView,
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
from agent.api.models.events import ConferenceEvent
from server.auth.caller import CALLER_KEY, Caller
from server.conferences.service import Conferences
from server.conferences.state import ConferenceState
from server.http import json_response, no_content
from server.openapi import operation
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


@operation(
    "Create a conference (always run as ROUTER)",
    response=ConferenceSummary,
    errors=(400, 409),
)
async def create(request: web.Request, body: CreateConferenceWebCommand) -> web.Response:
    service, caller = _service(request)
    return _summary(service.create(caller, body))


@operation(
    "Join a conference with a registered user endpoint",
    response=ConferenceSummary,
    errors=(400, 403, 404),
)
async def join(request: web.Request, body: JoinConferenceWebCommand) -> web.Response:
    service, caller = _service(request)
    return _summary(service.join(caller, body))


@operation("Leave a conference", status=204, errors=(400, 404, 409))
async def leave(request: web.Request, body: LeaveConferenceWebCommand) -> web.Response:
    service, caller = _service(request)
    await service.leave(caller, body.conference_id, body.user_endpoint_id, body.reason)
    return no_content()


@operation(
    "End a conference for every participant",
    status=204,
    errors=(400, 404, 409),
)
async def end(request: web.Request, body: EndConferenceWebCommand) -> web.Response:
    service, caller = _service(request)
    await service.end(caller, body.conference_id, body.user_endpoint_id, body.reason)
    return no_content()


@operation(
    "Link a conference to an interaction",
    status=204,
    errors=(400, 404, 409),
)
async def interaction(request: web.Request, body: SetInteractionIdWebCommand) -> web.Response:
    service, caller = _service(request)
    service.set_interaction(caller, body.conference_id, body.interaction_id, body.user_endpoint_id)
    return no_content()


@operation(
    "Publish a stream: send-only SDP offer in, SDP answer out",
    response=ConferencePublishResult,
    errors=(400, 404, 409),
)
async def publish_stream(
    request: web.Request, body: ConferencePublishStreamWebCommand
) -> web.Response:
    service, caller = _service(request)
    stream_id, answer = await service.publish(caller, body)
    return json_response(ConferencePublishResult(stream_id=stream_id, sdp_answer=answer))


@operation(
    "Stop publishing a stream",
    status=204,
    errors=(400, 404, 409),
)
async def unpublish_stream(
    request: web.Request, body: ConferenceUnpublishStreamWebCommand
) -> web.Response:
    service, caller = _service(request)
    await service.unpublish(caller, body.conference_id, body.user_endpoint_id, body.stream_id)
    return no_content()


@operation(
    "View a stream: receive-only SDP offer in, SDP answer out",
    response=ConferenceStreamViewResult,
    errors=(400, 404, 409),
)
async def view_stream(request: web.Request, body: ConferenceViewStreamWebCommand) -> web.Response:
    service, caller = _service(request)
    viewer_id, answer = await service.view(caller, body)
    return json_response(ConferenceStreamViewResult(viewer_id=viewer_id, sdp_answer=answer))


@operation(
    "Stop viewing a stream",
    status=204,
    errors=(400, 404, 409),
)
async def stop_view_stream(
    request: web.Request, body: ConferenceStopViewStreamWebCommand
) -> web.Response:
    service, caller = _service(request)
    await service.stop_view(
        caller, body.conference_id, body.user_endpoint_id, body.stream_id, body.viewer_id
    )
    return no_content()


@operation(
    "Trickle local ICE candidates of a published stream",
    status=204,
    errors=(400, 404, 409),
)
async def add_publish_candidates(
    request: web.Request, body: ConferencePublishStreamIceCandidatesWebCommand
) -> web.Response:
    service, caller = _service(request)
    await service.add_publish_candidates(
        caller, body.conference_id, body.user_endpoint_id, body.stream_id, body.ice_candidates
    )
    return no_content()


@operation(
    "Trickle local ICE candidates of a viewer",
    status=204,
    errors=(400, 404, 409),
)
async def add_view_candidates(
    request: web.Request, body: ConferenceViewStreamIceCandidatesWebCommand
) -> web.Response:
    service, caller = _service(request)
    await service.add_view_candidates(
        caller,
        body.conference_id,
        body.user_endpoint_id,
        body.stream_id,
        body.viewer_id,
        body.ice_candidates,
    )
    return no_content()


@operation(
    "Set or remove a conference metadata entry",
    status=204,
    errors=(400, 404, 409),
)
async def update_metadata(
    request: web.Request, body: UpdateConferenceMetadataWebCommand
) -> web.Response:
    service, caller = _service(request)
    service.update_metadata(caller, body)
    return no_content()


@operation(
    "Replace a published stream's metadata",
    status=204,
    errors=(400, 404, 409),
)
async def update_stream_metadata(
    request: web.Request, body: UpdateConferenceStreamMetadataWebCommand
) -> web.Response:
    service, caller = _service(request)
    service.update_stream_metadata(
        caller, body.conference_id, body.user_endpoint_id, body.stream_id, body.new_metadata
    )
    return no_content()


@operation(
    "Replace a participant's metadata",
    status=204,
    errors=(400, 404, 409),
)
async def update_participant_metadata(
    request: web.Request, body: UpdateConferenceParticipantMetadataWebCommand
) -> web.Response:
    service, caller = _service(request)
    service.update_participant_metadata(
        caller, body.conference_id, body.user_endpoint_id, body.new_metadata
    )
    return no_content()


@operation(
    "Cap the video bitrate of a published stream",
    status=204,
    errors=(400, 404, 409),
)
async def update_bitrate(
    request: web.Request, body: ConferenceUpdatePublishedStreamBitrateWebCommand
) -> web.Response:
    service, caller = _service(request)
    await service.set_bitrate(caller, body)
    return no_content()


@operation(
    "Send an event to every member (SERVICE callers)",
    response=SendEventResponse,
    errors=(400, 403, 404),
)
async def send_event(request: web.Request, body: SendEventToConferenceWebCommand) -> web.Response:
    service, caller = _service(request)
    return json_response(SendEventResponse(events_sent=service.send_event(caller, body)))


@operation("One conference, with participants and streams", response=Conference)
async def get_conference(request: web.Request) -> web.Response:
    service, caller = _service(request)
    return json_response(service.get(caller, request.match_info["id"]).aggregate())


@operation(
    "What a joining client reads to catch up (its version seeds event ordering)",
    response=ConferenceSimpleView,
)
async def simple_view(request: web.Request) -> web.Response:
    service, caller = _service(request)
    return json_response(service.get(caller, request.match_info["id"]).simple_view())


@operation(
    "The events since version v; blocks a few seconds when there are none",
    response=list[ConferenceEvent],
)
async def events(request: web.Request, query: ConferenceEventsQuery) -> web.Response:
    version = query.v
    service, caller = _service(request)
    found = await service.events_since(caller, request.match_info["id"], version)
    return web.json_response(found)


@operation(
    "The active conferences of the caller's organization",
    response=list[Conference],
    errors=(400,),
)
async def active(request: web.Request, query: ActiveConferencesQuery) -> web.Response:
    service, caller = _service(request)
    organization = caller.organization_for(query.organization_id)
    return json_response([c.aggregate() for c in service.active(caller, organization)])
