"""One endpoint for as long as it runs: the participant core plus what a kiosk decides.

The participant (`agent.participant.Participant`) keeps the registration, the event channel
and the call alive and resumes them by itself. On top of it the endpoint decides which
conference it should be in (the file's, the ticket's, or the last invitation's), publishes its
camera and microphone there, answers snapshot and camera requests (`SnapshotTarget`), and
says whether it is ready: registered, its channel connected, in that conference with its
stream live, its devices delivering.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from agent.api.auth import TokenProvider
from agent.api.errors import ApiError
from agent.api.models import ConferenceStreamType
from agent.api.models.events import Event
from agent.endpoint.invitation import EndpointInvitation, invitation_of
from agent.endpoint.media import EndpointMedia, open_media
from agent.endpoint.model import EndpointSpec
from agent.participant import Participant, ResumePolicy, StreamState, ViewPolicy
from agent.participant.drift import DriftWatcher
from agent.participant.records import describe
from agent.snapshot import SnapshotTarget
from agent.snapshot.policy import response_policy

__all__ = ["Endpoint", "Readiness"]

log = logging.getLogger(__name__)

DRIFT_SAMPLES = 24 * 60
"""Drift samples an endpoint keeps: a day of one a minute (its memory slope is the last day's)."""
TIMELINE_LIMIT = 10_000
"""Records an endpoint keeps (the newest): it runs for weeks, a report reads only the recent."""


@dataclass(frozen=True, slots=True)
class Readiness:
    """What `/readyz` checks; `ready` when all hold."""

    registered: bool
    channel_connected: bool
    in_conference: bool
    """In the conference it should be in (true when it should be in none), publishing."""
    devices: bool
    conference_id: str | None
    wanted_conference: str | None
    lost: str | None
    user_id: str | None = None
    endpoint_id: str | None = None
    organization_id: str | None = None
    """Who the endpoint is: what an invitation (`sendEvent`) is addressed to."""

    @property
    def ready(self) -> bool:
        return self.registered and self.channel_connected and self.in_conference and self.devices

    def to_dict(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "registered": self.registered,
            "channel_connected": self.channel_connected,
            "in_conference": self.in_conference,
            "devices": self.devices,
            "conference_id": self.conference_id,
            "wanted_conference": self.wanted_conference,
            "lost": self.lost,
            "user_id": self.user_id,
            "endpoint_id": self.endpoint_id,
            "organization_id": self.organization_id,
        }


class Endpoint:
    """The endpoint `spec` describes, logged in by `auth` at `base_url`."""

    def __init__(
        self,
        spec: EndpointSpec,
        base_url: str,
        auth: TokenProvider,
        *,
        resume: ResumePolicy | None = None,
        drift_interval: float = 60.0,
    ) -> None:
        self.spec = spec
        policy = resume or ResumePolicy(give_up_after=spec.give_up_after)
        self.participant = Participant(
            base_url,
            auth,
            name=spec.name,
            keep_alive_seconds=max(1, round(spec.keep_alive)),
            view_policy=ViewPolicy(auto_view=spec.view == "all"),
            resume=policy,
        )
        self.participant.timeline.limit = TIMELINE_LIMIT
        self.media: EndpointMedia | None = (
            open_media(spec.publish, torch=spec.torch == "simulate") if spec.publish else None
        )
        self.target: SnapshotTarget | None = None
        self.drift = DriftWatcher(
            self.participant.peer_connection_count, drift_interval, keep=DRIFT_SAMPLES
        )
        self.invitations = 0
        """Invitations followed."""
        self.refused_invitations = 0
        self.organization_id: str | None = None
        self._moving = False
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe: Any = None

    def __repr__(self) -> str:
        return f"Endpoint({self.spec.name!r}, {self.participant!r})"

    async def start(self) -> None:
        """Register, connect the event channel, listen for requests and invitations, and join
        the conference the file or the ticket names (if any)."""
        participant = self.participant
        await participant.start()
        claims = await participant.api.claims()
        self.organization_id = claims.organization
        self.target = SnapshotTarget(
            participant,
            self.media.tap if self.media else None,
            snapshot=response_policy(self.spec.snapshot.action, self.spec.snapshot.delay),
            camera=response_policy(
                self.spec.camera_requests.action, self.spec.camera_requests.delay
            ),
        )
        self.target.start()
        self._unsubscribe = participant.subscribe(self._on_event)
        self.drift.start()
        conference = self.spec.conference or claims.conference_id
        log.info(
            "%s: registered as user %s, endpoint %s%s",
            self.spec.name,
            participant.user_id,
            participant.endpoint_id,
            f"; joining {conference}" if conference else "; waiting for an invitation",
        )
        if conference:
            await self.enter(conference)

    async def enter(self, conference_id: str) -> None:
        """Be in `conference_id`, publishing: leave the one it is in first (a kiosk takes one
        call at a time). Calls are taken in turn."""
        async with self._lock:
            participant = self.participant
            if participant.conference_id == conference_id:
                return
            self._moving = True
            try:
                if participant.conference_id is not None:
                    await participant.leave("invited to another conference")
                shown = self.spec.display_name
                await participant.join(conference_id, {"name": shown} if shown else None)
                await self._publish()
                log.info("%s: in conference %s", self.spec.name, conference_id)
            finally:
                self._moving = False

    async def _publish(self) -> None:
        spec = self.spec.publish
        if spec is not None and self.media is not None:
            await self.participant.publish(
                ConferenceStreamType(spec.type.value),
                self.media.tracks,
                metadata=spec.metadata,
                video_bitrate=int(spec.bitrate) if spec.bitrate else None,
            )

    async def repair(self) -> None:
        """Publish again when it is in its conference without its stream (the publish after
        a join failed, or the platform unpublished it): the participant core republishes
        only what it published; this is what the endpoint means to publish."""
        participant = self.participant
        if (
            self.spec.publish is None
            or self._lock.locked()
            or participant.lost is not None
            or participant.conference_id is None
            or participant.conference_id != participant.home_conference
            or participant.publishers
        ):
            return
        async with self._lock:
            with participant.timeline.step("republish", conference_id=participant.conference_id):
                await self._publish()

    def _on_event(self, event: Event) -> None:
        invitation = invitation_of(event)
        if invitation is None:
            return
        sender = getattr(event, "sent_by", None)
        sender_id = sender.get("userId") if isinstance(sender, dict) else None
        allowed = self.spec.invitations.from_users
        timeline = self.participant.timeline
        if not self.spec.invitations.accept or (allowed is not None and sender_id not in allowed):
            self.refused_invitations += 1
            timeline.note(
                "invitation",
                ok=False,
                error=f"not accepted from user {sender_id}",
                conference_id=invitation.conference_id,
            )
            log.warning(
                "%s: invitation to %s from user %s refused (invitations: %s)",
                self.spec.name,
                invitation.conference_id,
                sender_id,
                "off" if not self.spec.invitations.accept else "not from an allowed user",
            )
            return
        task = asyncio.get_running_loop().create_task(
            self._follow(invitation, sender_id), name=f"invitation-{invitation.conference_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _follow(self, invitation: EndpointInvitation, sender_id: str | None) -> None:
        conference_id = invitation.conference_id
        try:
            with self.participant.timeline.step(
                "invitation", conference_id=conference_id, sent_by=sender_id
            ):
                log.info(
                    "%s: invited to %s by user %s%s",
                    self.spec.name,
                    conference_id,
                    sender_id,
                    f" ({invitation.reason})" if invitation.reason else "",
                )
                await self.enter(conference_id)
            self.invitations += 1
        except (ApiError, ConnectionError, TimeoutError, RuntimeError) as exc:
            why = describe(exc)
            log.warning("%s: invitation to %s not followed: %s", self.spec.name, conference_id, why)

    def readiness(self) -> Readiness:
        participant = self.participant
        channel = participant.channel
        wanted = participant.home_conference
        publishing = all(p.state is StreamState.LIVE for p in participant.publishers) and (
            self.spec.publish is None or bool(participant.publishers)
        )
        in_conference = not self._moving and (
            wanted is None or (participant.conference_id == wanted and publishing)
        )
        devices = self.media.devices() if self.media else []
        return Readiness(
            registered=participant.endpoint_id is not None
            and participant.lost is None
            and participant.keepalive_failures == 0,
            channel_connected=channel is not None and channel.connected,
            in_conference=in_conference,
            devices=all(d.error is None for d in devices),
            conference_id=participant.conference_id,
            wanted_conference=wanted,
            lost=participant.lost,
            user_id=participant.user_id,
            endpoint_id=participant.endpoint_id,
            organization_id=self.organization_id,
        )

    async def close(self) -> None:
        """Leave, unregister, stop the devices: a clean goodbye (SIGTERM)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        await self.drift.stop()
        if self.target is not None:
            await self.target.close()
        try:
            await self.participant.close()
        finally:
            if self.media is not None:
                self.media.stop()
        log.info("%s: left and unregistered", self.spec.name)
