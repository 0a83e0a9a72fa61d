"""Conferences: who is in them, what they publish and view, and the events every change makes.

Every change happens synchronously (check, mutate, emit) so events leave in version order;
the media router is awaited only outside such a step: before it (publish, view: an id is
reserved first, the result applied after re-checking) or after it (cleanup of what was removed).

Event versions follow PROTOCOL.md: an event carries the version the conference had when it
happened, then the version goes up by one. A client at version V applies the event with
`conferenceVersion == V`; `GET /conferences/{id}/events?v=V` returns those with `>= V`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from functools import partial
from statistics import fmean
from typing import Any

from agent.api.models.conferences import (
    ConferenceMode,
    ConferencePublishStreamWebCommand,
    ConferenceUpdatePublishedStreamBitrateWebCommand,
    ConferenceViewStreamWebCommand,
    CreateConferenceWebCommand,
    EventQos,
    IceCandidate,
    JoinConferenceWebCommand,
    MetadataOperation,
    ParticipantState,
    SendEventToConferenceWebCommand,
    UpdateConferenceMetadataWebCommand,
)
from agent.api.models.events import (
    ConferenceEndedEvent,
    ConferenceEvent,
    ConferenceJoinedEvent,
    ConferenceLeftEvent,
    ConferenceMetadataUpdatedEvent,
    ConferenceNetworkIndicatorUpdatedEvent,
    ConferenceParticipantMetadataUpdatedEvent,
    ConferenceStreamMetadataUpdatedEvent,
    ConferenceStreamPublishedEvent,
    ConferenceStreamUnpublishedEvent,
    NetworkGrade,
)
from server.auth.caller import Caller
from server.conferences.network import indicator
from server.conferences.persist import ConferenceRecords
from server.conferences.state import (
    ConferenceState,
    MetadataEntry,
    Participant,
    RoutedIds,
    Stream,
    Viewer,
)
from server.errors import ApiError, BadRequest, Conflict, Forbidden, NotFound
from server.events import EventDelivery, Recipient, client_event
from server.http import check_caller_id
from server.media.contract import Candidate, MediaRouter, MediaRouterError
from server.registrations import Registrations, UserEndpoint

log = logging.getLogger(__name__)

EXPIRED_REASON = "expired"
Cleanup = Callable[[], Awaitable[None]]


class AlreadyJoined(ApiError):
    """The seed's 422 for joining twice from the same endpoint."""

    def __init__(self, message: str):
        super().__init__(422, message)


MEDIA_LAPSE = 3.0
"""Seconds without a packet from a published stream after which its publisher is SICK."""


class Conferences:
    def __init__(
        self,
        registrations: Registrations,
        events: EventDelivery,
        router: MediaRouter | None,
        *,
        empty_ttl: float,
        ended_retention: float,
        long_poll_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        network_interval: float | None = None,
        records: ConferenceRecords | None = None,
        media_lapse: float = MEDIA_LAPSE,
    ):
        self._registrations = registrations
        self._events = events
        self._router = router
        self._empty_ttl = empty_ttl
        self._ended_retention = ended_retention
        self._long_poll_seconds = long_poll_seconds
        self._clock = clock
        self._network_interval = network_interval
        """Seconds between network indicator checks (None: the platform says nothing)."""
        self._network_due = 0.0
        self._media_lapse = media_lapse
        self._media_seen: dict[str, tuple[int, float]] = {}
        """By published stream id: its packet count at the router and when it last grew."""
        self._grades: dict[tuple[str, str], dict[str, str]] = {}
        """By (organization, conference): the grades of its last network indicator event."""
        # By (organization, id): organizations name their conferences independently, so one
        # neither learns that another's name exists nor takes it first.
        self._conferences: dict[tuple[str, str], ConferenceState] = {}
        self._stream_ids = RoutedIds()
        self._viewer_ids = RoutedIds()
        self.listeners: list[Callable[[ConferenceState, dict[str, Any]], None]] = []
        """Called with every event a conference emits, after it happened (the recorder
        follows streams this way); a listener must not block and must not raise."""
        registrations.gone_listeners.append(self._endpoint_gone)
        self._records = records
        if records is not None:
            for conference in records.load(self._clock()):
                self._conferences[(conference.organization_id, conference.id)] = conference

    def _save(self, conference: ConferenceState) -> None:
        """Keep the conference's record up to date (a no-op on a platform without records)."""
        if self._records is not None:
            self._records.save(conference, int(time.time() * 1000))

    # --- lookups ---------------------------------------------------------------------------

    def get(self, caller: Caller, conference_id: str, *, ended_ok: bool = False) -> ConferenceState:
        """The conference if the caller may see it: organizations are walls (404 beyond them)."""
        conference = self._find(caller, conference_id)
        if conference is None or (conference.ended and not ended_ok):
            raise NotFound(f"conference {conference_id} not found")
        if caller.is_customer and caller.conference_id != conference_id:
            raise Forbidden(f"this customer login is for conference {caller.conference_id}")
        return conference

    def _find(self, caller: Caller, conference_id: str) -> ConferenceState | None:
        """The caller's organization's conference of that id; SERVICE callers, who see every
        organization's, get another organization's when exactly one has that id."""
        own = self._conferences.get((caller.organization, conference_id))
        if own is not None or not caller.is_service:
            return own
        found = [c for (_, cid), c in self._conferences.items() if cid == conference_id]
        if len(found) > 1:
            raise Conflict(
                f"conference {conference_id} exists in {len(found)} organizations; "
                "a SERVICE caller reaches it from a login of its organization"
            )
        return found[0] if found else None

    def reaches(self, caller: Caller, endpoint_id: str) -> bool:
        """Whether the caller may aim a request or event at this endpoint: staff at any of
        their organization's, a customer only at the participants of its ticket's conference."""
        if not caller.is_customer:
            return True
        conference = self._conferences.get((caller.organization, caller.conference_id or ""))
        return (
            conference is not None
            and not conference.ended
            and endpoint_id in conference.participants
        )

    def interaction_of_customer(self, caller: Caller) -> str | None:
        """The interaction of a customer's conference (None: no conference, or none set)."""
        own = self._conferences.get((caller.organization, caller.conference_id or ""))
        return own.interaction_id if own is not None else None

    def require_reach(self, caller: Caller, endpoint_id: str) -> None:
        if not self.reaches(caller, endpoint_id):
            raise Forbidden(
                f"user endpoint {endpoint_id} is not a participant of conference "
                f"{caller.conference_id}: a customer acts only within its own conference"
            )

    def active(self, caller: Caller, organization: str) -> list[ConferenceState]:
        """The organization's live conferences; a customer sees only its ticket's one."""
        return [
            c
            for c in self._conferences.values()
            if not c.ended
            and c.organization_id == organization
            and (not caller.is_customer or caller.conference_id == c.id)
        ]

    def _endpoint(self, caller: Caller, endpoint_id: str) -> UserEndpoint:
        return self._registrations.own(caller, endpoint_id)

    def _joined(
        self, caller: Caller, conference_id: str, endpoint_id: str
    ) -> tuple[ConferenceState, Participant]:
        conference = self.get(caller, conference_id)
        self._endpoint(caller, endpoint_id)
        participant = conference.participants.get(endpoint_id)
        if participant is None:
            raise Conflict(f"user endpoint {endpoint_id} has not joined conference {conference_id}")
        return conference, participant

    def _own_stream(
        self, conference: ConferenceState, participant: Participant, stream_id: str
    ) -> Stream:
        stream = participant.streams.get(stream_id)
        if stream is not None:
            return stream
        if conference.find_stream(stream_id) is not None:
            raise Forbidden(f"stream {stream_id} is published by another user endpoint")
        raise NotFound(f"stream {stream_id} not found in conference {conference.id}")

    def _media(self) -> MediaRouter:
        if self._router is None:
            raise ApiError(503, "this platform runs without a media router")
        return self._router

    # --- lifecycle ---------------------------------------------------------------------------

    def create(self, caller: Caller, command: CreateConferenceWebCommand) -> ConferenceState:
        if caller.is_customer:
            raise Forbidden("customers cannot create conferences")
        # "Currently only ROUTER is supported" (seed 002): a requested P2P conference runs as
        # ROUTER, and the summary says so, rather than failing clients written from the seed.
        mode = ConferenceMode.ROUTER
        conference_id = check_caller_id("conferenceId", command.conference_id or str(uuid.uuid4()))
        organization = caller.organization_for(command.organization_id)
        if (organization, conference_id) in self._conferences:
            raise Conflict(f"conference {conference_id} already exists")
        now = self._clock()
        moment = datetime.now(UTC)
        conference = ConferenceState(
            id=conference_id,
            mode=mode,
            organization_id=organization,
            creator=caller.user_id,
            creator_endpoint=command.creator_endpoint,
            interaction_id=command.interaction_id,
            metadata={
                key: MetadataEntry(value, caller.user_id, command.creator_endpoint or "", moment)
                for key, value in (command.metadata or {}).items()
            },
            created_at=now,
            empty_since=now,
        )
        self._conferences[(organization, conference_id)] = conference
        self._save(conference)
        return conference

    def join(self, caller: Caller, command: JoinConferenceWebCommand) -> ConferenceState:
        conference = self.get(caller, command.conference_id)
        endpoint = self._endpoint(caller, command.user_endpoint_id)
        if endpoint.id in conference.participants:
            raise AlreadyJoined(
                f"user endpoint {endpoint.id} has already joined conference {conference.id}"
            )
        participant = Participant(endpoint.id, endpoint.user_id, dict(command.metadata or {}))
        conference.participants[endpoint.id] = participant
        conference.empty_since = None
        self._emit(conference, ConferenceJoinedEvent, participant)
        return conference

    async def leave(
        self, caller: Caller, conference_id: str, endpoint_id: str, reason: str | None
    ) -> None:
        conference, participant = self._joined(caller, conference_id, endpoint_id)
        await self._run(self._remove_participant(conference, participant, reason))

    async def end(
        self, caller: Caller, conference_id: str, endpoint_id: str, reason: str | None
    ) -> None:
        conference = self.get(caller, conference_id)
        endpoint = self._endpoint(caller, endpoint_id)
        if caller.is_customer and endpoint.id not in conference.participants:
            raise Conflict(f"user endpoint {endpoint.id} has not joined conference {conference.id}")
        await self._run(self._end(conference, endpoint.user_id, endpoint.id, reason))

    def set_interaction(
        self, caller: Caller, conference_id: str, interaction_id: str, endpoint_id: str | None
    ) -> None:
        conference = self.get(caller, conference_id)
        if endpoint_id:
            self._endpoint(caller, endpoint_id)
        conference.interaction_id = interaction_id
        self._save(conference)

    # --- streams -----------------------------------------------------------------------------

    async def publish(
        self, caller: Caller, command: ConferencePublishStreamWebCommand
    ) -> tuple[str, str]:
        """Publish a stream; returns (stream id, SDP answer)."""
        conference, participant = self._joined(
            caller, command.conference_id, command.user_endpoint_id
        )
        if not command.sdp_offer:
            raise BadRequest("sdpOffer: required to publish a stream")
        router = self._media()
        stream_id = command.stream_id or str(uuid.uuid4())
        organization = conference.organization_id
        route = self._stream_ids.claim(organization, stream_id)
        if route is None:
            raise Conflict(f"stream {stream_id} already exists")

        async def release() -> None:
            self._stream_ids.release(organization, stream_id)
            await self._quietly(router.unpublish(route))

        try:
            answer = await router.publish(conference.id, route, command.sdp_offer)
            if command.video_bitrate:
                await router.set_publish_bitrate(route, command.video_bitrate)
        except BaseException as exc:
            await release()
            if isinstance(exc, MediaRouterError):
                raise BadRequest(f"publishStream: {exc}") from None
            raise
        if (
            conference.ended
            or conference.participants.get(participant.endpoint_id) is not participant
        ):
            await release()
            raise Conflict(
                f"user endpoint {participant.endpoint_id} left conference {conference.id} "
                "while publishing"
            )
        stream = Stream(
            id=stream_id,
            type=command.conference_stream_type.value,
            endpoint_id=participant.endpoint_id,
            route=route,
            metadata=dict(command.metadata or {}),
            video_bitrate=command.video_bitrate,
        )
        participant.streams[stream_id] = stream
        self._emit(
            conference,
            ConferenceStreamPublishedEvent,
            participant,
            stream_id=stream_id,
            stream_type=stream.type,
        )
        return stream_id, answer

    async def unpublish(
        self, caller: Caller, conference_id: str, endpoint_id: str, stream_id: str
    ) -> None:
        conference, participant = self._joined(caller, conference_id, endpoint_id)
        stream = self._own_stream(conference, participant, stream_id)
        await self._run(self._remove_stream(conference, participant, stream))

    async def view(
        self, caller: Caller, command: ConferenceViewStreamWebCommand
    ) -> tuple[str, str]:
        """View a stream; returns (viewer id, SDP answer)."""
        conference, participant = self._joined(
            caller, command.conference_id, command.user_endpoint_id
        )
        stream = conference.find_stream(command.stream_id)
        if stream is None:
            raise NotFound(f"stream {command.stream_id} not found in conference {conference.id}")
        router = self._media()
        viewer_id = command.viewer_id or str(uuid.uuid4())
        organization = conference.organization_id
        route = self._viewer_ids.claim(organization, viewer_id)
        if route is None:
            raise Conflict(f"viewer {viewer_id} already exists")

        async def release() -> None:
            self._viewer_ids.release(organization, viewer_id)
            await self._quietly(router.stop_view(route))

        try:
            answer = await router.view(stream.route, route, command.sdp_offer)
        except BaseException as exc:
            await release()
            if isinstance(exc, MediaRouterError):
                raise BadRequest(f"viewStream: {exc}") from None
            raise
        still_there = (
            conference.participants.get(participant.endpoint_id) is participant
            and conference.find_stream(stream.id) is stream
        )
        if not still_there:
            await release()
            raise NotFound(f"stream {stream.id} was unpublished while starting to view it")
        viewer = Viewer(viewer_id, stream.id, participant.endpoint_id, route)
        stream.viewers[viewer_id] = viewer
        participant.viewing[viewer_id] = viewer
        return viewer_id, answer

    async def stop_view(
        self, caller: Caller, conference_id: str, endpoint_id: str, stream_id: str, viewer_id: str
    ) -> None:
        conference, participant = self._joined(caller, conference_id, endpoint_id)
        viewer = self._own_viewer(conference, participant, stream_id, viewer_id)
        cleanups = self._drop_viewer(conference, viewer)
        await self._run(cleanups)

    async def add_publish_candidates(
        self,
        caller: Caller,
        conference_id: str,
        endpoint_id: str,
        stream_id: str,
        candidates: list[IceCandidate],
    ) -> None:
        conference, participant = self._joined(caller, conference_id, endpoint_id)
        stream = self._own_stream(conference, participant, stream_id)
        await self._media().add_publish_candidates(stream.route, _candidates(candidates))

    async def add_view_candidates(
        self,
        caller: Caller,
        conference_id: str,
        endpoint_id: str,
        stream_id: str,
        viewer_id: str,
        candidates: list[IceCandidate],
    ) -> None:
        conference, participant = self._joined(caller, conference_id, endpoint_id)
        viewer = self._own_viewer(conference, participant, stream_id, viewer_id)
        await self._media().add_view_candidates(viewer.route, _candidates(candidates))

    async def set_bitrate(
        self, caller: Caller, command: ConferenceUpdatePublishedStreamBitrateWebCommand
    ) -> None:
        """Cap one stream, or every stream of the endpoint when no stream is named."""
        conference, participant = self._joined(
            caller, command.conference_id, command.user_endpoint_id
        )
        if command.stream_id:
            streams = [self._own_stream(conference, participant, command.stream_id)]
        else:
            streams = list(participant.streams.values())
        router = self._media()
        for stream in streams:
            stream.video_bitrate = command.video_bitrate
            await router.set_publish_bitrate(stream.route, command.video_bitrate)

    def _own_viewer(
        self, conference: ConferenceState, participant: Participant, stream_id: str, viewer_id: str
    ) -> Viewer:
        viewer = participant.viewing.get(viewer_id)
        if viewer is None or viewer.stream_id != stream_id:
            if any(viewer_id in p.viewing for p in conference.participants.values()):
                raise Forbidden(f"viewer {viewer_id} belongs to another user endpoint")
            raise NotFound(f"viewer {viewer_id} of stream {stream_id} not found")
        return viewer

    # --- metadata ----------------------------------------------------------------------------

    def update_metadata(self, caller: Caller, command: UpdateConferenceMetadataWebCommand) -> None:
        conference, participant = self._joined(
            caller, command.conference_id, command.user_endpoint_id
        )
        if command.operation is MetadataOperation.SET:
            conference.metadata[command.key] = MetadataEntry(
                command.value, participant.user_id, participant.endpoint_id, datetime.now(UTC)
            )
        elif command.operation is MetadataOperation.REMOVE:
            if conference.metadata.pop(command.key, None) is None:
                return
        else:
            raise BadRequest("operation: must be SET or REMOVE")
        value = command.value if command.operation is MetadataOperation.SET else None
        self._emit(
            conference,
            ConferenceMetadataUpdatedEvent,
            participant,
            key=command.key,
            operation=command.operation.value,
            value=value,
        )

    def update_stream_metadata(
        self,
        caller: Caller,
        conference_id: str,
        endpoint_id: str,
        stream_id: str,
        new_metadata: dict[str, Any] | None,
    ) -> None:
        conference, participant = self._joined(caller, conference_id, endpoint_id)
        stream = self._own_stream(conference, participant, stream_id)
        stream.metadata = dict(new_metadata or {})
        self._emit(
            conference,
            ConferenceStreamMetadataUpdatedEvent,
            participant,
            stream_id=stream.id,
            new_metadata=stream.metadata,
        )

    def update_participant_metadata(
        self, caller: Caller, conference_id: str, endpoint_id: str, new_metadata: dict[str, Any]
    ) -> None:
        conference, participant = self._joined(caller, conference_id, endpoint_id)
        participant.metadata = dict(new_metadata)
        self._emit(
            conference,
            ConferenceParticipantMetadataUpdatedEvent,
            participant,
            new_metadata=participant.metadata,
        )

    def send_event(self, caller: Caller, command: SendEventToConferenceWebCommand) -> int:
        if not caller.is_service:
            raise Forbidden("sending events to a conference needs the SERVICE role")
        conference = self.get(caller, command.conference_id)
        qos = 1 if command.qos is EventQos.AT_LEAST_ONCE else 0
        event = client_event(caller, command.event)
        return self._events.send(conference.recipients(), event, qos=qos)

    # --- events long-poll --------------------------------------------------------------------

    async def events_since(
        self, caller: Caller, conference_id: str, version: int
    ) -> list[dict[str, Any]]:
        """Events with `conferenceVersion >= version`, waiting a few seconds for one if none."""
        if version < 0:
            raise BadRequest("v: must be 0 or more")
        conference = self.get(caller, conference_id, ended_ok=True)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._long_poll_seconds
        while True:
            found = conference.events_since(version)
            remaining = deadline - loop.time()
            if found or conference.ended or remaining <= 0:
                return found
            changed = conference.changed
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                return conference.events_since(version)

    # --- housekeeping ------------------------------------------------------------------------

    async def sweep(self) -> None:
        """End conferences left empty too long; forget ended ones after their retention;
        mark each participant HEALTHY or SICK (its keepalives late, or a stream it publishes
        without media for `media_lapse` seconds) for the views."""
        now = self._clock()
        lapsed = self._lapsed_streams(now)
        for conference in list(self._conferences.values()):
            for participant in conference.participants.values():
                healthy = self._registrations.healthy(
                    participant.user_id, participant.endpoint_id
                ) and not any(stream_id in lapsed for stream_id in participant.streams)
                participant.state = ParticipantState.HEALTHY if healthy else ParticipantState.SICK
            if conference.ended_at is not None:
                if conference.ended_at + self._ended_retention <= now:
                    del self._conferences[(conference.organization_id, conference.id)]
            elif conference.empty_since is not None and (
                conference.empty_since + self._empty_ttl <= now
            ):
                log.info("conference %s expired (empty)", conference.id)
                await self._run(self._end(conference, conference.creator, "", EXPIRED_REASON))

        if self._network_interval is not None and now >= self._network_due:
            self._network_due = now + self._network_interval
            await self.update_network_indicators()

    def _lapsed_streams(self, now: float) -> set[str]:
        """Published streams whose packet count at the router has not grown for
        `media_lapse` seconds (the publisher stopped sending, or cannot reach the router)."""
        if self._router is None:
            return set()
        counts = self._router.packets_received()
        seen = self._media_seen
        for stream_id in [s for s in seen if s not in counts]:
            del seen[stream_id]  # unpublished
        lapsed = set()
        for stream_id, count in counts.items():
            before = seen.get(stream_id)
            if before is None or count != before[0]:
                seen[stream_id] = (count, now)
            elif now - before[1] >= self._media_lapse:
                lapsed.add(stream_id)
        return lapsed

    async def update_network_indicators(self) -> None:
        """Grade every joined endpoint's links from the router's RTCP figures and tell each
        conference when a grade changed (`server.conferences.network`)."""
        if self._router is None:
            return
        reports = await self._router.link_reports()
        for conference in list(self._conferences.values()):
            if conference.ended:
                continue
            indicators = {}
            for participant in conference.participants.values():
                links = [
                    reports[v.route] for v in participant.viewing.values() if v.route in reports
                ]
                sick = participant.state is ParticipantState.SICK
                found = indicator(links, sick)
                if found is not None:
                    indicators[participant.endpoint_id] = found
            grades = {endpoint: str(i.grade) for endpoint, i in indicators.items()}
            previous = self._grades.get((conference.organization_id, conference.id))
            if grades == previous or (previous is None and not _any_worse(grades)):
                continue  # unchanged, or all OPTIMAL from the start: nothing to say
            self._grades[(conference.organization_id, conference.id)] = dict(grades)
            scores = [i.average_network_quality for i in indicators.values()]
            self._emit(
                conference,
                ConferenceNetworkIndicatorUpdatedEvent,
                (conference.creator, ""),
                average_network_quality=fmean(s for s in scores if s is not None)
                if scores
                else None,
                participant_indicator_map=indicators,
            )

    async def close(self) -> None:
        """Stop: conferences kept as records stay open for after the restart (only their live
        membership goes, as the endpoints do); without records they end here."""
        for conference in list(self._conferences.values()):
            if not conference.ended and self._records is None:
                await self._run(self._end(conference, conference.creator, "", "server shutdown"))
        self._conferences.clear()

    def count_active(self) -> int:
        return sum(1 for c in self._conferences.values() if not c.ended)

    async def _endpoint_gone(self, endpoint: UserEndpoint, reason: str) -> None:
        for conference in list(self._conferences.values()):
            participant = conference.participants.get(endpoint.id)
            # Ids are per organization: a namesake of another organization is not this one.
            if (
                participant is not None
                and participant.user_id == endpoint.user_id
                and not conference.ended
            ):
                await self._run(self._remove_participant(conference, participant, reason))

    # --- steps that change state (synchronous; return the router work to do after) ----------

    def _emit(
        self,
        conference: ConferenceState,
        event_type: type[ConferenceEvent],
        cause: Participant | tuple[str, str],
        extra_recipients: Iterable[Recipient] = (),
        **fields: Any,
    ) -> dict[str, Any]:
        """Record one change: the event takes the current version, the conference the next."""
        user_id, endpoint_id = (
            (cause.user_id, cause.endpoint_id) if isinstance(cause, Participant) else cause
        )
        event = event_type(
            id=str(uuid.uuid4()),
            timestamp=datetime.now(UTC),
            conference_id=conference.id,
            organization_id=conference.organization_id,
            conference_version=conference.version,
            user_id=user_id,
            user_endpoint_id=endpoint_id,
            **{k: v for k, v in fields.items() if v is not None},
        ).to_wire()
        conference.version += 1
        conference.record(event)
        self._save(conference)
        recipients = conference.recipients()
        recipients += [r for r in extra_recipients if r not in recipients]
        self._events.send(recipients, event)
        for listener in self.listeners:
            try:
                listener(conference, event)
            except Exception:
                log.exception("a conference listener failed on %s", event["type"])
        return event

    def _drop_viewer(self, conference: ConferenceState, viewer: Viewer) -> list[Cleanup]:
        stream = conference.find_stream(viewer.stream_id)
        if stream is not None:
            stream.viewers.pop(viewer.id, None)
        holder = conference.participants.get(viewer.endpoint_id)
        if holder is not None:
            holder.viewing.pop(viewer.id, None)
        self._viewer_ids.release(conference.organization_id, viewer.id)
        return [partial(self._router.stop_view, viewer.route)] if self._router is not None else []

    def _remove_stream(
        self, conference: ConferenceState, participant: Participant, stream: Stream
    ) -> list[Cleanup]:
        del participant.streams[stream.id]
        organization = conference.organization_id
        self._stream_ids.release(organization, stream.id)
        for viewer in list(stream.viewers.values()):
            holder = conference.participants.get(viewer.endpoint_id)
            if holder is not None:
                holder.viewing.pop(viewer.id, None)
            self._viewer_ids.release(organization, viewer.id)
        stream.viewers.clear()
        self._emit(
            conference,
            ConferenceStreamUnpublishedEvent,
            participant,
            stream_id=stream.id,
            stream_type=stream.type,
        )
        # The router closes the stream's viewers together with the publisher.
        return [partial(self._router.unpublish, stream.route)] if self._router is not None else []

    def _remove_participant(
        self, conference: ConferenceState, participant: Participant, reason: str | None
    ) -> list[Cleanup]:
        cleanups: list[Cleanup] = []
        for stream in list(participant.streams.values()):
            cleanups += self._remove_stream(conference, participant, stream)
        for viewer in list(participant.viewing.values()):
            cleanups += self._drop_viewer(conference, viewer)
        del conference.participants[participant.endpoint_id]
        self._emit(
            conference, ConferenceLeftEvent, participant, [participant.recipient], reason=reason
        )
        if not conference.participants:
            conference.empty_since = self._clock()
        return cleanups

    def _end(
        self, conference: ConferenceState, user_id: str, endpoint_id: str, reason: str | None
    ) -> list[Cleanup]:
        router = self._router
        cleanups: list[Cleanup] = []
        unpublished: set[str] = set()
        organization = conference.organization_id
        for participant in conference.participants.values():
            for stream in participant.streams.values():
                self._stream_ids.release(organization, stream.id)
                unpublished.add(stream.id)
                for viewer_id in stream.viewers:
                    self._viewer_ids.release(organization, viewer_id)
                if router is not None:
                    cleanups.append(partial(router.unpublish, stream.route))
        for participant in conference.participants.values():
            for viewer in participant.viewing.values():
                self._viewer_ids.release(organization, viewer.id)
                # Unpublishing a stream closes its viewers in the router: stop only the others.
                if router is not None and viewer.stream_id not in unpublished:
                    cleanups.append(partial(router.stop_view, viewer.route))
        self._emit(
            conference, ConferenceEndedEvent, (user_id, endpoint_id), reason=reason or "ended"
        )
        conference.participants.clear()
        conference.ended_at = self._clock()
        self._save(conference)
        return cleanups

    async def _run(self, cleanups: list[Cleanup]) -> None:
        for cleanup in cleanups:
            await self._quietly(cleanup())

    @staticmethod
    async def _quietly(step: Awaitable[None]) -> None:
        """Router cleanup: the state change already happened, so a failure is only logged."""
        try:
            await step
        except Exception as exc:
            log.warning("media router cleanup failed: %s", exc)


def _candidates(items: list[IceCandidate]) -> list[Candidate]:
    return [Candidate(c.candidate or "", c.sdp_mid, c.sdp_m_line_index) for c in items]


def _any_worse(grades: dict[str, str]) -> bool:
    return any(grade != NetworkGrade.OPTIMAL for grade in grades.values())
