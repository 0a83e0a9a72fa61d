"""Many participants in one process: arrivals at a rate, each publishing and viewing.

A `Crowd` owns its participants and the media plan that feeds them. Each member is a full
participant of the Auvious call flow (token, register, event channel, join, publish, view
what the others publish); the crowd adds only the times a load test needs: when a member
arrived, joined, published, and when its first remote video (or audio) frame arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.api.auth import TokenProvider
from agent.api.client import AuviousClient
from agent.api.models import CreateConferenceWebCommand
from agent.load.media import MediaPlan
from agent.participant import Participant, Publisher, RetryPolicy, ViewerMeasurements
from agent.participant.records import describe
from agent.scenario.live import LiveSnapshot, snapshot_of_views
from agent.scenario.results import (
    ErrorRecord,
    ParticipantResult,
    StreamDirection,
    StreamResult,
)
from agent.scenario.run_metrics import ViewSeries

__all__ = ["Crowd", "Member"]

log = logging.getLogger(__name__)

AuthFactory = Callable[[], TokenProvider]
"""A fresh login per participant: token providers are bound to one client."""


@dataclass
class Member:
    """One participant of the crowd and the times of its arrival (wall clock, `time.time()`)."""

    participant: Participant
    arrived_at: float
    joined_at: float | None = None
    published_at: float | None = None
    publisher: Publisher | None = None
    error: str | None = None
    wants: tuple[str, ...] = field(default=("video",))
    ordinal: int = 0
    conference_id: str | None = None

    @property
    def name(self) -> str:
        return self.participant.name

    def first_frame_at(self) -> float | None:
        """When the first frame of a viewed stream arrived (video if it views any)."""
        firsts: list[float] = []
        for viewer in self.participant.viewers.values():
            for kind in self.wants:
                sinks = viewer.sinks.get(kind)
                if sinks is not None and sinks.timeline.first_at is not None:
                    firsts.append(sinks.timeline.first_at)
                    break
        return min(firsts, default=None)

    def seconds_to_first_frame(self) -> float | None:
        first = self.first_frame_at()
        return None if first is None else first - self.arrived_at


class Crowd:
    """Participants of the platform at `base_url`, published per `plan`."""

    def __init__(
        self,
        base_url: str,
        auth: AuthFactory,
        plan: MediaPlan,
        *,
        retry: RetryPolicy | None = None,
        keep_alive_seconds: int = 60,
        connect_timeout: float = 30.0,
    ) -> None:
        self.base_url = base_url
        self.auth = auth
        self.plan = plan
        self.retry = retry or RetryPolicy(connect_timeout=30.0)
        self.keep_alive_seconds = keep_alive_seconds
        self.connect_timeout = connect_timeout
        self.members: list[Member] = []
        self._admin: AuviousClient | None = None

    async def create_conference(self) -> str:
        if self._admin is None:
            self._admin = AuviousClient(self.base_url, self.auth())
        summary = await self._admin.conferences.create(CreateConferenceWebCommand())
        if not summary.id:
            raise ValueError("createConference answered without an id")
        return summary.id

    async def arrive(
        self,
        conference_id: str,
        name: str,
        *,
        publish: bool = True,
        view: bool = True,
        ordinal: int | None = None,
    ) -> Member:
        """One participant arrives: starts, joins, publishes. An error is kept on the member
        (and logged), not raised: one failed arrival must not stop a load test."""
        policy = self.plan.view_policy()
        if not view:
            policy = dataclasses.replace(policy, auto_view=False)
        participant = Participant(
            self.base_url,
            self.auth(),
            name=name,
            keep_alive_seconds=self.keep_alive_seconds,
            view_policy=policy,
            retry=self.retry,
            connect_timeout=self.connect_timeout,
        )
        wants = ("video",) if "video" in self.plan.kinds else ("audio",)
        member = Member(
            participant,
            arrived_at=time.time(),
            wants=wants,
            ordinal=len(self.members) if ordinal is None else ordinal,
            conference_id=conference_id,
        )
        self.members.append(member)
        try:
            await participant.start()
            await participant.join(conference_id)
            member.joined_at = time.time()
            if publish:
                member.publisher = await participant.publish(
                    self.plan.stream_type, self.plan.tracks()
                )
                member.published_at = time.time()
        except Exception as exc:
            member.error = describe(exc)
            log.warning("%s: arrival failed: %s", name, member.error)
        return member

    async def measurements(self) -> dict[str, ViewerMeasurements]:
        """Every viewed stream now, keyed "member/stream id"."""
        out: dict[str, ViewerMeasurements] = {}
        for member in self.members:
            for stream_id, viewer in list(member.participant.viewers.items()):
                out[f"{member.name}/{stream_id}"] = await viewer.measurements()
        return out

    async def live(self) -> LiveSnapshot:
        """The crowd now, for the live metrics endpoint."""
        views = await self.measurements()
        failed_steps = sum(
            1 for m in self.members for r in m.participant.timeline.records if not r.ok
        )
        return snapshot_of_views(
            list(views.values()),
            participants=sum(1 for m in self.members if m.participant.endpoint_id is not None),
            streams_published=sum(1 for m in self.members if m.participant.publishers),
            errors=failed_steps + sum(1 for m in self.members if m.error is not None),
        )

    async def participant_results(
        self, origin: float, group: str = "crowd"
    ) -> list[ParticipantResult]:
        """The members as a run's participant records, times in seconds since `origin`
        (wall clock); `index` is the member's ordinal in the whole run (its name's number)."""
        out: list[ParticipantResult] = []
        for member in self.members:
            me = member.participant
            views = [await v.measurements() for v in me.viewers.values()]
            streams = [
                StreamResult(
                    stream_id=p.stream_id or "",
                    direction=StreamDirection.PUBLISH,
                    stream_type=p.stream_type.value,
                )
                for p in me.publishers
            ]
            now = time.time() - origin
            for view in views:
                result = StreamResult(
                    stream_id=view.stream_id,
                    direction=StreamDirection.VIEW,
                    stream_type=view.stream_type,
                    publisher=view.publisher_endpoint_id,
                )
                # The scenario's measurement path: the same figures from the same viewer.
                main = "video" if "video" in view.tracks else next(iter(view.tracks), "audio")
                ViewSeries(result).take(view, main, now)
                streams.append(result)
            joined = member.joined_at - origin if member.joined_at is not None else None
            out.append(
                ParticipantResult(
                    name=member.name,
                    group=group,
                    index=member.ordinal,
                    conference=member.conference_id,
                    arrived_at=member.arrived_at - origin,
                    joined_at=joined,
                    join_time=(member.joined_at - member.arrived_at if member.joined_at else None),
                    streams=streams,
                    errors=(
                        [ErrorRecord(t=member.arrived_at - origin, message=member.error)]
                        if member.error
                        else []
                    ),
                )
            )
        return out

    def viewing(self) -> int:
        """Members whose viewed streams all delivered a first frame (and view at least one)."""
        return sum(
            1
            for m in self.members
            if m.participant.viewers and m.first_frame_at() is not None and m.error is None
        )

    async def close(self) -> None:
        """Every member leaves and unregisters (all at once), then the media stops."""
        members, self.members = self.members, []
        results = await asyncio.gather(
            *(m.participant.close() for m in members), return_exceptions=True
        )
        for member, result in zip(members, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("%s: closing failed: %s", member.name, describe(result))
        if self._admin is not None:
            with contextlib.suppress(Exception):
                await self._admin.close()
            self._admin = None
        self.plan.close()
