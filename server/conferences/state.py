"""The live state of a conference and its two read views (`Conference`, `ConferenceSimpleView`).

Plain dataclasses, mutated only by the conference service; the wire models are built on read
so the state can hold what the wire does not show (viewers, timings, the event log).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agent.api.models.conferences import (
    Conference,
    ConferenceMode,
    ConferenceParticipant,
    ConferenceSimpleView,
    ConferenceSimpleViewParticipant,
    ConferenceSimpleViewParticipantEndpoint,
    ConferenceSimpleViewParticipantEndpointStream,
    ConferenceStream,
    Metadata,
    ParticipantState,
)
from server.events import Recipient


class RoutedIds:
    """Stream or viewer ids, per organization, each with the media router's id for it.

    Organizations choose their ids independently (neither takes one first nor learns that
    another holds it); the router knows one id space, so an id another organization holds
    there gets a fresh UUID as its router id, and otherwise the id itself (logs stay
    readable)."""

    def __init__(self) -> None:
        self._taken: dict[tuple[str, str], str] = {}
        self._routes: set[str] = set()

    def claim(self, organization: str, object_id: str) -> str | None:
        """The router id for a new object, or None when the organization already has that id."""
        if (organization, object_id) in self._taken:
            return None
        route = object_id if object_id not in self._routes else str(uuid.uuid4())
        self._taken[(organization, object_id)] = route
        self._routes.add(route)
        return route

    def release(self, organization: str, object_id: str) -> None:
        route = self._taken.pop((organization, object_id), None)
        if route is not None:
            self._routes.discard(route)


@dataclass(slots=True)
class Viewer:
    id: str
    stream_id: str
    endpoint_id: str
    route: str
    """The media router's id for it (see `RoutedIds`)."""


@dataclass(slots=True)
class Stream:
    id: str
    type: str
    endpoint_id: str
    route: str
    """The media router's id for it (see `RoutedIds`)."""
    metadata: dict[str, Any]
    video_bitrate: int | None = None
    viewers: dict[str, Viewer] = field(default_factory=dict)


@dataclass(slots=True)
class Participant:
    """One joined user endpoint."""

    endpoint_id: str
    user_id: str
    metadata: dict[str, Any]
    state: ParticipantState = ParticipantState.HEALTHY
    streams: dict[str, Stream] = field(default_factory=dict)
    viewing: dict[str, Viewer] = field(default_factory=dict)

    @property
    def recipient(self) -> Recipient:
        return Recipient(self.user_id, self.endpoint_id)


@dataclass(slots=True)
class MetadataEntry:
    value: str | None
    user_id: str
    endpoint_id: str
    last_modified: datetime


@dataclass(slots=True)
class ConferenceState:
    id: str
    mode: ConferenceMode
    organization_id: str
    creator: str
    creator_endpoint: str | None
    interaction_id: str | None
    metadata: dict[str, MetadataEntry]
    created_at: float
    version: int = 0
    participants: dict[str, Participant] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    empty_since: float | None = None
    ended_at: float | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    """Replaced after every event; long-polls wait on the one they saw."""

    @property
    def ended(self) -> bool:
        return self.ended_at is not None

    def recipients(self) -> list[Recipient]:
        return [p.recipient for p in self.participants.values()]

    def find_stream(self, stream_id: str) -> Stream | None:
        for p in self.participants.values():
            if stream_id in p.streams:
                return p.streams[stream_id]
        return None

    def record(self, event: dict[str, Any]) -> None:
        """Keep the event for the long-poll and wake the waiting ones."""
        self.events.append(event)
        self.changed.set()
        self.changed = asyncio.Event()

    def events_since(self, version: int) -> list[dict[str, Any]]:
        return [e for e in self.events if e["conferenceVersion"] >= version]

    # --- read views ---------------------------------------------------------------------

    def _metadata_view(self) -> dict[str, Metadata]:
        return {
            key: Metadata(
                value=m.value,
                user_id=m.user_id,
                user_endpoint_id=m.endpoint_id,
                last_modified=m.last_modified,
            )
            for key, m in self.metadata.items()
        }

    def aggregate(self) -> Conference:
        return Conference(
            id=self.id,
            mode=self.mode,
            organization_id=self.organization_id,
            interaction_id=self.interaction_id,
            creator=self.creator,
            creator_endpoint=self.creator_endpoint,
            participants=[
                ConferenceParticipant(
                    id=p.endpoint_id,
                    user_id=p.user_id,
                    state=p.state,
                    streams=[
                        ConferenceStream(
                            id=s.id, type=s.type, metadata=s.metadata, video_bitrate=s.video_bitrate
                        )
                        for s in p.streams.values()
                    ],
                    metadata=p.metadata,
                )
                for p in self.participants.values()
            ],
            metadata=self._metadata_view(),
            version=self.version,
            empty=not self.participants,
        )

    def simple_view(self) -> ConferenceSimpleView:
        by_user: dict[str, list[ConferenceSimpleViewParticipantEndpoint]] = {}
        for p in self.participants.values():
            by_user.setdefault(p.user_id, []).append(
                ConferenceSimpleViewParticipantEndpoint(
                    id=p.endpoint_id,
                    state=p.state,
                    streams=[
                        ConferenceSimpleViewParticipantEndpointStream(
                            id=s.id, type=s.type, metadata=s.metadata
                        )
                        for s in p.streams.values()
                    ],
                    metadata=p.metadata,
                )
            )
        return ConferenceSimpleView(
            id=self.id,
            mode=self.mode,
            metadata=self._metadata_view(),
            participants=[
                ConferenceSimpleViewParticipant(id=user_id, endpoints=endpoints)
                for user_id, endpoints in by_user.items()
            ],
            version=self.version,
        )
