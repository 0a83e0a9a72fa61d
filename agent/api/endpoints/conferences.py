"""Conferences: lifecycle, streams, trickled ICE, metadata, views and the events long-poll."""

from __future__ import annotations

from pydantic import ValidationError

from agent.api.endpoints.base import Endpoints
from agent.api.http import Call, HttpTransport, first_problem
from agent.api.models.conferences import (
    Conference,
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
from agent.api.models.events import Event, parse_events

__all__ = ["DEFAULT_EVENTS_TIME_LIMIT", "Conferences"]

# The events long-poll blocks "a few seconds" when there is nothing new; the call's own
# limit must be well above that, or every quiet poll would end as a timeout.
DEFAULT_EVENTS_TIME_LIMIT = 60.0

_BASE = "/rtc-api/conferences"
CREATE = Call("createConference", "POST", f"{_BASE}/create")
JOIN = Call("joinConference", "POST", f"{_BASE}/join")
LEAVE = Call("leaveConference", "POST", f"{_BASE}/leave")
END = Call("endConference", "POST", f"{_BASE}/end")
SET_INTERACTION = Call("setConferenceInteractionId", "POST", f"{_BASE}/interaction")
PUBLISH = Call("publishStream", "POST", f"{_BASE}/publishStream")
UNPUBLISH = Call("unpublishStream", "POST", f"{_BASE}/unpublishStream")
VIEW = Call("viewStream", "POST", f"{_BASE}/viewStream")
STOP_VIEW = Call("stopViewStream", "POST", f"{_BASE}/stopViewStream")
PUBLISH_CANDIDATES = Call(
    "addPublishStreamIceCandidates", "POST", f"{_BASE}/addPublishStreamIceCandidates"
)
VIEW_CANDIDATES = Call("addViewStreamIceCandidates", "POST", f"{_BASE}/addViewStreamIceCandidates")
UPDATE_METADATA = Call("updateConferenceMetadata", "POST", f"{_BASE}/updateMetadata")
UPDATE_STREAM_METADATA = Call(
    "updateConferenceStreamMetadata", "POST", f"{_BASE}/updateStreamMetadata"
)
UPDATE_PARTICIPANT_METADATA = Call(
    "updateConferenceParticipantMetadata", "POST", f"{_BASE}/updateParticipantMetadata"
)
UPDATE_BITRATE = Call(
    "updatePublishedStreamBitrate", "POST", f"{_BASE}/updatePublishedStreamBitrate"
)
SEND_EVENT = Call("sendEventToConference", "POST", f"{_BASE}/sendEvent")
GET = Call("getConference", "GET", f"{_BASE}/{{id}}")
SIMPLE_VIEW = Call("getConferenceSimpleView", "GET", f"{_BASE}/{{id}}/simpleView")
EVENTS = Call("getConferenceEvents", "GET", f"{_BASE}/{{id}}/events")
ACTIVE = Call("getActiveConferences", "GET", f"{_BASE}/active")


class Conferences(Endpoints):
    """``client.conferences``."""

    def __init__(
        self, http: HttpTransport, *, events_time_limit: float = DEFAULT_EVENTS_TIME_LIMIT
    ) -> None:
        super().__init__(http)
        self.events_time_limit = events_time_limit

    async def create(self, command: CreateConferenceWebCommand) -> ConferenceSummary:
        return await self._fetch(CREATE, ConferenceSummary, command)

    async def join(self, command: JoinConferenceWebCommand) -> ConferenceSummary:
        return await self._fetch(JOIN, ConferenceSummary, command)

    async def leave(self, command: LeaveConferenceWebCommand) -> None:
        await self._send(LEAVE, command)

    async def end(self, command: EndConferenceWebCommand) -> None:
        await self._send(END, command)

    async def set_interaction(self, command: SetInteractionIdWebCommand) -> None:
        """``POST /conferences/interaction``: link the conference to an interaction."""
        await self._send(SET_INTERACTION, command)

    async def publish_stream(
        self, command: ConferencePublishStreamWebCommand
    ) -> ConferencePublishResult:
        return await self._fetch(PUBLISH, ConferencePublishResult, command)

    async def unpublish_stream(self, command: ConferenceUnpublishStreamWebCommand) -> None:
        await self._send(UNPUBLISH, command)

    async def view_stream(
        self, command: ConferenceViewStreamWebCommand
    ) -> ConferenceStreamViewResult:
        return await self._fetch(VIEW, ConferenceStreamViewResult, command)

    async def stop_view_stream(self, command: ConferenceStopViewStreamWebCommand) -> None:
        await self._send(STOP_VIEW, command)

    async def add_publish_stream_ice_candidates(
        self, command: ConferencePublishStreamIceCandidatesWebCommand
    ) -> None:
        await self._send(PUBLISH_CANDIDATES, command)

    async def add_view_stream_ice_candidates(
        self, command: ConferenceViewStreamIceCandidatesWebCommand
    ) -> None:
        await self._send(VIEW_CANDIDATES, command)

    async def update_metadata(self, command: UpdateConferenceMetadataWebCommand) -> None:
        await self._send(UPDATE_METADATA, command)

    async def update_stream_metadata(
        self, command: UpdateConferenceStreamMetadataWebCommand
    ) -> None:
        await self._send(UPDATE_STREAM_METADATA, command)

    async def update_participant_metadata(
        self, command: UpdateConferenceParticipantMetadataWebCommand
    ) -> None:
        await self._send(UPDATE_PARTICIPANT_METADATA, command)

    async def update_published_stream_bitrate(
        self, command: ConferenceUpdatePublishedStreamBitrateWebCommand
    ) -> None:
        await self._send(UPDATE_BITRATE, command)

    async def send_event(self, command: SendEventToConferenceWebCommand) -> SendEventResponse:
        """Deliver an event to every endpoint joined to the conference (SERVICE callers)."""
        return await self._fetch_optional(
            SEND_EVENT, SendEventResponse, SendEventResponse(), command
        )

    async def get(self, conference_id: str) -> Conference:
        """``GET /conferences/{id}``: the conference aggregate."""
        return await self._fetch(GET, Conference, path_params={"id": conference_id})

    async def simple_view(self, conference_id: str) -> ConferenceSimpleView:
        """``GET /conferences/{id}/simpleView``: participants, streams and the version."""
        return await self._fetch(
            SIMPLE_VIEW, ConferenceSimpleView, path_params={"id": conference_id}
        )

    async def events(
        self, conference_id: str, since_version: int, *, time_limit: float | None = None
    ) -> list[Event]:
        """``GET /conferences/{id}/events?v=N``: the events since version N, typed.

        The server blocks a few seconds when there are none yet, so this call has its own,
        longer time limit (``events_time_limit``)."""
        data = await self._http.request_json(
            EVENTS,
            path_params={"id": conference_id},
            query={"v": since_version},
            time_limit=self.events_time_limit if time_limit is None else time_limit,
        )
        try:
            return parse_events(data)
        except ValidationError as exc:
            problem = first_problem(exc)
            raise self._http.contract_error(EVENTS, 200, f"malformed event: {problem}") from None
        except ValueError as exc:
            raise self._http.contract_error(EVENTS, 200, f"malformed events: {exc}") from None

    async def active(self, organization_id: str | None = None) -> list[Conference]:
        """``GET /conferences/active``: the organization's active conferences; SERVICE callers
        may name the organization they act for."""
        query = {"organizationId": organization_id} if organization_id else None
        return await self._fetch(ACTIVE, list[Conference], query=query)
