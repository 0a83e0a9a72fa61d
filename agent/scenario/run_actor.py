"""One participant of a scenario: its `Participant` on the platform, what it publishes and
views, what it heard, and its `ParticipantResult`.

The actor does what a step asks (`register`, `join`, `publish`...; `agent.scenario.run_steps`
decides when) and keeps the record. Viewing follows the groups the participant views now:
the platform's ConferenceStreamPublishedEvent of an endpoint of such a group starts a view,
the participant itself stops viewing on ConferenceStreamUnpublishedEvent. `close` leaves and
unregisters whatever state the participant is in, and never leaves a peer connection open."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiortc import MediaStreamTrack
from pydantic import SecretStr

from agent.api.auth import TicketLogin, TokenProvider
from agent.api.models import ConferenceSimpleView
from agent.api.models.conferences import (
    ConferenceUpdatePublishedStreamBitrateWebCommand,
    MetadataOperation,
    UpdateConferenceMetadataWebCommand,
    UpdateConferenceStreamMetadataWebCommand,
)
from agent.api.models.events import (
    ConferenceEvent,
    ConferenceStreamPublishedEvent,
    ConferenceStreamUnpublishedEvent,
    Event,
)
from agent.participant import Participant, Publisher, StreamState
from agent.participant.records import describe
from agent.scenario.model import StreamSpec, StreamType
from agent.scenario.plan import ParticipantPlan
from agent.scenario.results import (
    ErrorRecord,
    ParticipantResult,
    Presence,
    StepRecord,
    StreamDirection,
    StreamResult,
    ViewingChange,
)
from agent.scenario.run_context import OTHERS, RunContext
from agent.scenario.run_media import stream_tracks, video_codecs
from agent.scenario.run_metrics import PublishTracker, ViewTracker, new_stream
from agent.scenario.run_platform import Login
from agent.scenario.templating import render, render_value
from agent.snapshot import (
    FrameTap,
    ResponseAction,
    ResponsePolicy,
    SnapshotRequester,
    SnapshotResult,
    SnapshotTarget,
)
from media.mute import MutableTrack

__all__ = ["Actor", "StepFailed"]

log = logging.getLogger(__name__)

CLOSE_TIMEOUT = 20.0
"""Leaving and unregistering at the end gets this long before the actor gives up waiting
(its peer connections are closed locally in any case)."""


class StepFailed(RuntimeError):
    """A step that could not do what it says; the message goes to the report."""


@dataclass
class Published:
    """One of the group's streams, published now."""

    spec: StreamSpec
    publisher: Publisher
    tracks: dict[str, MediaStreamTrack]
    """The sources (the camera's video through the snapshot tap)."""
    sent: dict[str, MutableTrack]
    """What the peer connection sends: the sources, mutable as a browser's tracks."""
    tracker: PublishTracker

    def stop_tracks(self) -> None:
        for track in self.sent.values():
            track.stop()  # stops its source too


class Actor:
    """The participant `plan` describes, arriving at run time `arrived_at`."""

    def __init__(self, run: RunContext, plan: ParticipantPlan, arrived_at: float) -> None:
        self.run = run
        self.plan = plan
        self.group = plan.group
        self.template = plan.context
        self.name = plan.name
        self.arrival = plan.arrival.number
        self.conference_name = plan.conference
        self.result = ParticipantResult(
            name=self.name,
            group=self.group.name,
            index=plan.index,
            arrival=self.arrival,
            conference=self.conference_name,
            arrived_at=arrived_at,
        )
        self.present = True
        self.participant: Participant | None = None
        self.published: dict[str, Published] = {}
        self.views: dict[str, ViewTracker] = {}
        self._viewing: set[str] = set()
        """Stream ids being viewed or about to be (a view under way is in here already)."""
        self.targets: set[str] = set()
        """Groups whose streams this participant views now (OTHERS: endpoints not ours)."""
        self.heard: list[tuple[float, str]] = []
        """(run time, event type) of the platform's events caused by others."""
        self.done: set[str] = set()
        """Ids of the steps done (failed or not: `after` waits for them to happen)."""
        self.snapshot_target: SnapshotTarget | None = None
        self.requester: SnapshotRequester | None = None
        self.undecided: list[SnapshotResult] = []
        """Snapshots acquired for this participant and not yet approved or discarded."""
        self.snapshots_acquired = 0
        self.snapshots_waited = 0
        self.interaction_id: str | None = None
        self._conference_id: str | None = None
        self._stream_metadata: dict[str, dict[str, Any]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing: Participant | None = None
        """The participant an `unregister` step closes (its close outlives a cancelled step)."""
        self._unsubscribe: Any = None

    def __repr__(self) -> str:
        return f"Actor({self.name!r}, conference={self.conference_name!r})"

    # --- state the others read ----------------------------------------------------------------

    @property
    def endpoint_id(self) -> str | None:
        return self.participant.endpoint_id if self.participant is not None else None

    @property
    def user_id(self) -> str | None:
        return self.participant.user_id if self.participant is not None else None

    @property
    def joined(self) -> bool:
        return self.participant is not None and self.participant.conference_id is not None

    def peer_connection_count(self) -> int:
        return self.participant.peer_connection_count() if self.participant is not None else 0

    def publishing(self) -> list[str]:
        """Ids of the streams this participant publishes now."""
        return [p.publisher.stream_id for p in self.published.values() if p.publisher.stream_id]

    def viewed_streams(self) -> list[StreamResult]:
        """The records of the streams this participant views now."""
        return [tracker.result for tracker in self.views.values()]

    def receiving(self, stream_id: str) -> bool:
        tracker = self.views.get(stream_id)
        return tracker is not None and tracker.viewer.frames(_main_kind(tracker)) > 0

    # --- records ------------------------------------------------------------------------------

    def record(self, kind: str, started: float, ok: bool) -> None:
        duration = max(0.0, self.run.clock.now() - started)
        self.result.steps.append(StepRecord(t=started, kind=kind, duration=duration, ok=ok))

    def error(self, step: str | None, message: str) -> None:
        self.result.errors.append(ErrorRecord(t=self.run.clock.now(), step=step, message=message))

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work, name=f"{self.name}-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- endpoint -----------------------------------------------------------------------------

    async def register(self, keep_alive: float) -> None:
        if self.participant is not None:
            raise StepFailed("already registered")
        participant = Participant(
            self.run.platform.base_url,
            await self._login(),
            name=self.name,
            keep_alive_seconds=max(1, round(keep_alive)),
            view_policy=self.run.view_policy(self.group, self._record_dir()),
            retry=self.run.retry,
            video_codecs=video_codecs(self.group.publish),
        )
        try:
            await participant.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await participant.close()
            raise
        self.participant = participant
        assert participant.channel is not None
        self._unsubscribe = participant.channel.subscribe(self._on_event)
        self.snapshot_target = SnapshotTarget(
            participant,
            None,
            snapshot=_policy(self.group.snapshot.action, self.group.snapshot.delay),
            camera=_policy(self.group.camera.action, self.group.camera.delay),
        )
        self.snapshot_target.start()
        self.requester = SnapshotRequester(participant)

    async def _login(self) -> TokenProvider:
        group, platform = self.group, self.run.platform
        if group.role == "customer":
            if self.plan.ticket is not None:
                return TicketLogin(self.plan.ticket)
            conference_id = await platform.conference(self.conference_name)
            return await platform.ticket(conference_id, self.name)
        return platform.agent_login(self.group_login())

    def group_login(self) -> Login | None:
        """The group's own client credentials; None: the run's."""
        group = self.group
        creds = group.credentials
        if creds is None:
            return None
        client_id = self.plan.client_id
        if not client_id:
            raise StepFailed(f"no client id for group {group.name} (set {creds.client_id_env})")
        secret_env = creds.client_secret_env
        secret = self.template.env.get(secret_env) if secret_env else None
        if not secret:
            raise StepFailed(
                f"no client secret for group {group.name}: set the environment variable "
                f"named by client_secret_env"
            )
        return Login(client_id, SecretStr(secret))

    def _record_dir(self) -> Path | None:
        spec = self.group.record
        if spec is None:
            return None
        base = self.run.report_dir or Path("reports")
        return base / render(spec.path, self.template)

    async def unregister(self) -> None:
        participant = self.require()
        if self.joined:
            await self.leave()
        await self._cancel_tasks()
        await self._detach()
        self.participant = None
        self._closing = participant
        await participant.close()  # goes on when the run's end cancels this step

    async def _detach(self) -> None:
        """Stop listening and answering on the event channel."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self.requester is not None:
            self.requester.close()
            self.requester = None
        if self.snapshot_target is not None:
            await self.snapshot_target.close()
            self.snapshot_target = None

    def require(self) -> Participant:
        if self.participant is None:
            raise StepFailed("not registered: a `register` step must come first")
        return self.participant

    def require_joined(self) -> tuple[Participant, str, str]:
        participant = self.require()
        if participant.conference_id is None or participant.endpoint_id is None:
            raise StepFailed("not in a conference: a `join` step must come first")
        return participant, participant.conference_id, participant.endpoint_id

    # --- conference ---------------------------------------------------------------------------

    async def join(self, conference: str | None) -> None:
        participant = self.require()
        name = render(conference, self.template) if conference else self.conference_name
        conference_id = await self.run.platform.conference(name)
        started = self.run.clock.now()
        self.targets = _groups(self.group.view, self.run.group_names)
        # The display name travels as participant metadata, for the others to show.
        shown = self.plan.display_name
        view = await participant.join(conference_id, {"name": shown} if shown else None)
        self._conference_id = conference_id
        self._record_join(started)
        self._view_present(view)

    def _record_join(self, started: float) -> None:
        """A stay begins (`joins`), viewing `targets` from now on (a browser's join too)."""
        now = self.run.clock.now()
        self.result.joins.append(Presence(joined_at=now, join_time=now - started))
        if self.result.joined_at is None:
            self.result.joined_at = now
            self.result.join_time = now - started
        self.result.left_at = None
        self._viewing_changed()

    def _record_leave(self) -> None:
        self.result.left_at = self.run.clock.now()
        if self.result.joins:
            self.result.joins[-1].left_at = self.result.left_at

    def _view_present(self, view: ConferenceSimpleView) -> None:
        """What was there before the join counts as heard (a `wait_for` a stream published
        just before joining must not wait forever) and is viewed as the targets say."""
        now = self.run.clock.now()
        for member in view.participants or []:
            for endpoint in member.endpoints or []:
                if endpoint.id == self.endpoint_id:
                    continue
                self.heard.append((now, "ConferenceJoinedEvent"))
                for stream in endpoint.streams or []:
                    if stream.id:
                        self.heard.append((now, "ConferenceStreamPublishedEvent"))
                        self._maybe_view(stream.id, str(stream.type or ""), endpoint.id)

    async def leave(self) -> None:
        participant, _, _ = self.require_joined()
        await self._cancel_tasks()
        for published in list(self.published.values()):
            await published.tracker.sample(self.run.clock)
        await self._final_samples()
        try:
            await participant.leave()
        finally:
            self._end_streams()
            self._record_leave()
            self._conference_id = None

    def _end_streams(self) -> None:
        for published in self.published.values():
            published.tracker.end(self.run.clock)
            published.stop_tracks()
        self.published.clear()
        for tracker in self.views.values():
            tracker.end(self.run.clock)
        self.views.clear()
        self._viewing.clear()
        if self.snapshot_target is not None:
            self.snapshot_target.tap = None

    # --- publishing ---------------------------------------------------------------------------

    def _specs(self, names: Iterable[str] | None) -> list[StreamSpec]:
        specs = self.group.publish
        if names is None:
            return list(specs)
        wanted = set(names)
        return [spec for spec in specs if spec.key in wanted]

    async def publish(self, names: list[str] | None) -> None:
        participant, _, _ = self.require_joined()
        specs = [spec for spec in self._specs(names) if spec.key not in self.published]
        if not specs and names is None and not self.group.publish:
            raise StepFailed(f"group {self.group.name} has no `publish` streams")
        for spec in specs:
            tracks = stream_tracks(spec, self.run.base)
            tap = self._tap(spec, tracks)
            sent = {kind: MutableTrack(track) for kind, track in tracks.items()}
            started = self.run.clock.now()
            try:
                publisher = await participant.publish(
                    spec.type.value,
                    dict(sent),
                    metadata=render_value(spec.metadata, self.template) if spec.metadata else None,
                    video_bitrate=int(spec.bitrate) if spec.bitrate is not None else None,
                )
            except BaseException:
                for track in sent.values():
                    track.stop()
                raise
            result = new_stream(
                publisher.stream_id or "", StreamDirection.PUBLISH, spec.type.value, started
            )
            result.setup_time = self.run.clock.now() - started
            self.result.streams.append(result)
            self.published[spec.key] = Published(
                spec, publisher, tracks, sent, PublishTracker(publisher, result)
            )
            if tap is not None and self.snapshot_target is not None:
                self.snapshot_target.tap = tap

    def _tap(self, spec: StreamSpec, tracks: dict[str, MediaStreamTrack]) -> FrameTap | None:
        """The camera stream's video goes through a tap, so a snapshot shows what is sent."""
        if spec.type not in (StreamType.CAM, StreamType.MIC_AND_CAM) or "video" not in tracks:
            return None
        if self.snapshot_target is not None and self.snapshot_target.tap is not None:
            return None  # the first camera stream is the one snapshots are taken of
        tap = FrameTap(tracks["video"])
        tracks["video"] = tap
        return tap

    async def unpublish(self, names: list[str] | None) -> None:
        participant, _, _ = self.require_joined()
        for spec in self._specs(names):
            published = self.published.pop(spec.key, None)
            if published is None:
                continue
            await published.tracker.sample(self.run.clock)
            try:
                await participant.unpublish(published.publisher)
            finally:
                published.tracker.end(self.run.clock)
                target = self.snapshot_target
                if target is not None and target.tap is published.tracks.get("video"):
                    target.tap = None
                published.stop_tracks()

    def mute(self, names: list[str] | None, media: str, muted: bool) -> None:
        """Send black frames or silence (or the source again) on these streams' `media`
        track, as a browser does when its track is disabled."""
        for spec in self._specs(names):
            published = self.published.get(spec.key)
            track = published.sent.get(media) if published is not None else None
            if track is not None:
                track.muted = muted

    def stream_id_of(self, name: str) -> str:
        published = self.published.get(name)
        if published is None or not published.publisher.stream_id:
            raise StepFailed(f"stream {name!r} is not published")
        return published.publisher.stream_id

    def stream_ids(self, names: list[str] | None) -> list[str]:
        keys = [spec.key for spec in self._specs(names)]
        ids = [self.stream_id_of(key) for key in keys if key in self.published]
        if not ids:
            raise StepFailed("none of these streams is published")
        return ids

    # --- viewing ------------------------------------------------------------------------------

    async def view(self, of: str | list[str]) -> None:
        """View the streams of `of` published now, and from now on; wait until they flow."""
        participant, conference_id, _ = self.require_joined()
        self.targets |= _groups(of, self.run.group_names)
        self._viewing_changed()
        view = await participant.api.conferences.simple_view(conference_id)
        before = set(self._tasks)
        self._view_present_streams(view)
        started = [task for task in self._tasks if task not in before]
        if started:
            await asyncio.gather(*started)

    def _viewing_changed(self) -> None:
        """The record of whom this participant views, for the condition that every viewer
        received every publisher it viewed while both were there."""
        change = ViewingChange(t=self.run.clock.now(), groups=sorted(self.targets))
        self.result.viewing.append(change)

    def _view_present_streams(self, view: ConferenceSimpleView) -> None:
        for member in view.participants or []:
            for endpoint in member.endpoints or []:
                for stream in endpoint.streams or []:
                    if stream.id:
                        self._maybe_view(stream.id, str(stream.type or ""), endpoint.id)

    async def stop_view(self, of: str | list[str]) -> None:
        participant, _, _ = self.require_joined()
        groups = _groups(of, self.run.group_names)
        self.targets -= groups
        self._viewing_changed()
        for stream_id, tracker in list(self.views.items()):
            if self.run.roster.group_of(tracker.viewer.publisher_endpoint_id) in groups:
                await tracker.sample(self.run.clock)
                self.views.pop(stream_id, None)  # an unpublish may have come meanwhile
                self._viewing.discard(stream_id)
                try:
                    await participant.stop_viewing(stream_id)
                finally:
                    tracker.end(self.run.clock)

    def _maybe_view(self, stream_id: str, stream_type: str, endpoint_id: str | None) -> None:
        if not self.joined or stream_id in self._viewing or endpoint_id == self.endpoint_id:
            return
        if self.run.roster.group_of(endpoint_id) not in self.targets:
            return
        self._viewing.add(stream_id)
        self._spawn(self._view_one(stream_id, stream_type, endpoint_id), f"view-{stream_id}")

    async def _view_one(self, stream_id: str, stream_type: str, endpoint_id: str | None) -> None:
        participant = self.participant
        if participant is None:
            return
        publisher = self.run.roster.by_endpoint(endpoint_id)
        started = self.run.clock.now()
        result = new_stream(
            stream_id,
            StreamDirection.VIEW,
            stream_type or "MIC_AND_CAM",
            started,
            publisher=publisher.name if publisher is not None else endpoint_id,
        )
        self.result.streams.append(result)
        try:
            viewer = await participant.view(stream_id, stream_type or None, endpoint_id)
        except asyncio.CancelledError:
            result.ended_at = self.run.clock.now()
            raise
        except Exception as exc:
            result.ended_at = self.run.clock.now()
            unpublished = stream_id not in self._viewing  # the event came meanwhile
            self._viewing.discard(stream_id)
            failed = participant.viewers.get(stream_id)
            gone = unpublished or (failed is not None and failed.state is StreamState.GONE)
            self.record("view", started, ok=gone)
            if not gone:  # a stream unpublished meanwhile (churn) is no failure
                self.error("view", f"viewing {result.publisher}'s {stream_type} failed: {exc}")
            return
        result.setup_time = self.run.clock.now() - started
        result.viewer_id = viewer.viewer_id
        self.record("view", started, ok=True)
        if stream_id in self._viewing:
            self.views[stream_id] = ViewTracker(viewer, result)
        else:
            result.ended_at = self.run.clock.now()

    def _on_event(self, event: Event) -> None:
        """From the event channel's task: must not block."""
        if getattr(event, "user_endpoint_id", None) == self.endpoint_id:
            return
        if isinstance(event, ConferenceEvent) and event.conference_id != self._conference_id:
            return
        self.heard.append((self.run.clock.now(), event.type))
        if isinstance(event, ConferenceStreamPublishedEvent):
            self._maybe_view(event.stream_id, str(event.stream_type), event.user_endpoint_id)
        elif isinstance(event, ConferenceStreamUnpublishedEvent):
            self._viewing.discard(event.stream_id)
            tracker = self.views.pop(event.stream_id, None)
            if tracker is not None:
                self._spawn(self._last_sample(tracker), f"unviewed-{event.stream_id}")

    async def _last_sample(self, tracker: ViewTracker) -> None:
        try:
            with contextlib.suppress(Exception):
                await tracker.sample(self.run.clock)
        finally:
            tracker.end(self.run.clock)

    # --- conference metadata --------------------------------------------------------------

    async def set_metadata(self, key: str, value: Any, remove: bool) -> None:
        participant, conference_id, endpoint_id = self.require_joined()
        text = None if remove else (value if isinstance(value, str) else json.dumps(value))
        await participant.api.conferences.update_metadata(
            UpdateConferenceMetadataWebCommand(
                conference_id=conference_id,
                user_endpoint_id=endpoint_id,
                operation=MetadataOperation.REMOVE if remove else MetadataOperation.SET,
                key=key,
                value=text,
            )
        )

    async def set_stream_metadata(self, stream: str, key: str, value: Any, remove: bool) -> None:
        participant, conference_id, endpoint_id = self.require_joined()
        stream_id = self.stream_id_of(stream)
        metadata = self._stream_metadata.setdefault(stream_id, {})
        if remove:
            metadata.pop(key, None)
        else:
            metadata[key] = value
        await participant.api.conferences.update_stream_metadata(
            UpdateConferenceStreamMetadataWebCommand(
                conference_id=conference_id,
                user_endpoint_id=endpoint_id,
                stream_id=stream_id,
                new_metadata=dict(metadata),
            )
        )

    async def set_bitrate(self, names: list[str] | None, bitrate: float) -> None:
        participant, conference_id, endpoint_id = self.require_joined()
        for stream_id in self.stream_ids(names):
            await participant.api.conferences.update_published_stream_bitrate(
                ConferenceUpdatePublishedStreamBitrateWebCommand(
                    conference_id=conference_id,
                    user_endpoint_id=endpoint_id,
                    stream_id=stream_id,
                    video_bitrate=int(bitrate),
                )
            )

    # --- measurements and the end -------------------------------------------------------------

    async def sample(self) -> None:
        """One sample of every stream (the run calls this about once a second)."""
        trackers: list[PublishTracker | ViewTracker] = [
            *(p.tracker for p in self.published.values()),
            *self.views.values(),
        ]
        for tracker in trackers:
            try:
                await tracker.sample(self.run.clock)
            except Exception as exc:  # a stream closing under us: the next sample will do
                log.debug("%s: sampling failed: %s", self.name, exc)

    async def _final_samples(self) -> None:
        for tracker in list(self.views.values()):
            with contextlib.suppress(Exception):
                await tracker.sample(self.run.clock)

    async def close(self) -> None:
        """Leave, unregister, stop every track: whatever state the participant is in.

        Each part runs even if another failed; failures become errors of the participant.
        Leaving and unregistering are recorded as steps, as if the timeline had them."""
        await self._cancel_tasks()
        participant = self.participant
        if participant is not None:
            if self.joined:
                await self._closing_step("leave", self.leave())
            await self._detach()
            self.participant = None
            await self._closing_step("unregister", participant.close())
        elif self._closing is not None and not self._closing.closed:
            await self._closing_step("unregister", self._closing.close())
        self._end_streams()
        self.present = False

    async def _cancel_tasks(self) -> None:
        """Views under way end before what they view does (or they would call the platform
        with a participant that is gone)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    async def _closing_step(self, kind: str, work: Coroutine[Any, Any, None]) -> None:
        started = self.run.clock.now()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await work
        except Exception as exc:
            self.record(kind, started, ok=False)
            self.error(kind, describe(exc))
        else:
            self.record(kind, started, ok=True)


def _groups(of: str | list[str], names: list[str]) -> set[str]:
    if of == "all":
        return {*names, OTHERS}
    if of == "none":
        return set()
    return set(of)


def _main_kind(tracker: ViewTracker) -> str:
    return "video" if "video" in tracker.viewer.sinks else "audio"


def _policy(action: str, delay: float | None) -> ResponsePolicy:
    return ResponsePolicy(ResponseAction(action), delay or 0.0)
