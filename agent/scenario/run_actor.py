"""One agent participant of a scenario: its `Participant` (the participant core) on the
platform, what it publishes, and the record of what it did and received.

The actor does what a step asks (`register`, `join`, `publish`...; `agent.scenario.run_steps`
decides when, `agent.scenario.steps` which action) and keeps the record (`ParticipantRecord`).
It does not re-implement the participant: the core views and stops viewing (its view filter is
"an endpoint of a group this participant views now"), the run's `MediaSources` give the tracks
(shared by the streams of one profile), and the actor only turns what happens into the
report (`ViewWatcher`). `close` leaves and unregisters whatever state the participant is in,
and never leaves a peer connection open."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.api.auth import TicketLogin, TokenProvider
from agent.api.models import ConferenceSimpleView
from agent.api.models.conferences import (
    ConferenceUpdatePublishedStreamBitrateWebCommand,
    MetadataOperation,
    UpdateConferenceMetadataWebCommand,
    UpdateConferenceStreamMetadataWebCommand,
)
from agent.api.models.events import ConferenceEvent, ConferenceNetworkIndicatorUpdatedEvent, Event
from agent.api.models.recorder import RecordingDataEvent
from agent.participant import Participant, Publisher, RemoteStream, StreamState, Viewer
from agent.participant.sources import SentMedia
from agent.scenario.model import StreamSpec, StreamType
from agent.scenario.network import shaper_for
from agent.scenario.plan import ParticipantPlan
from agent.scenario.results import (
    NetworkChange,
    NetworkIndication,
    NetworkRecord,
    StreamDirection,
    StreamResult,
)
from agent.scenario.run_context import OTHERS, RunContext
from agent.scenario.run_media import profile_of, video_codecs
from agent.scenario.run_metrics import PublishTracker, ViewTracker, new_stream
from agent.scenario.run_speech import Listening, Speaking
from agent.scenario.surface import ParticipantRecord, StepFailed, group_login
from agent.scenario.templating import render, render_value
from agent.snapshot import (
    SnapshotRequester,
    SnapshotResult,
    SnapshotTarget,
)
from agent.snapshot.policy import response_policy
from agent.webrtc.factory import media_kinds
from media.mute import MutableTrack

__all__ = ["Actor", "StepFailed"]

log = logging.getLogger(__name__)


@dataclass
class Published:
    """One of the group's streams, published now."""

    spec: StreamSpec
    media: SentMedia
    """What it sends: shared with the streams of its profile, or its own (`encoder: own`, or
    since it diverged)."""
    tracker: PublishTracker
    """What it sent, and the publisher sending it now (`publisher`)."""

    @property
    def publisher(self) -> Publisher:
        """The publisher sending this stream now (a resume publishes it again)."""
        return self.tracker.current()


@dataclass
class _View:
    """One view as the report sees it, from its start on."""

    result: StreamResult
    started: float
    tracker: ViewTracker | None = None


class Actor:
    """The agent participant `plan` describes, arriving at run time `arrived_at`: a
    `StepSurface` on the participant core."""

    def __init__(self, run: RunContext, plan: ParticipantPlan, arrived_at: float) -> None:
        self.run = run
        self.plan = plan
        self.template = plan.context
        self.record = ParticipantRecord(run, plan, arrived_at)
        self.name, self.group, self.result = plan.name, plan.group, self.record.result
        self.present = True
        self.participant: Participant | None = None
        self.published: dict[str, Published] = {}
        self.views: dict[str, ViewTracker] = {}
        """The streams viewed now, by stream id, once their view is set up."""
        self._views: dict[int, _View] = {}
        """Every view under way or set up, by its viewer (a stream viewed again is a new one)."""
        self.targets: set[str] = set()
        """Groups whose streams this participant views now (OTHERS: endpoints not ours)."""
        self.snapshot_target: SnapshotTarget | None = None
        self.requester: SnapshotRequester | None = None
        self.undecided: list[SnapshotResult] = []
        """Snapshots acquired for this participant and not yet approved or discarded."""
        self.snapshots_acquired = 0
        self.snapshots_waited = 0
        self.interaction_id: str | None = None
        self.recording: RecordingDataEvent | None = None
        """The recorder this participant started and has not stopped yet."""
        self._conference_id: str | None = None
        self._stream_metadata: dict[str, dict[str, Any]] = {}
        self._snapshot_stream: str | None = None
        """The key of the camera stream snapshots and camera requests are about."""
        self._closing: Participant | None = None
        """The participant an `unregister` step closes (its close outlives a cancelled step)."""
        self._unsubscribe: Any = None
        self.speaking = Speaking(self.result, run.clock, run.base)
        self.listening = (
            Listening(
                self.group, self.name, run.base, (run.report_dir or Path("reports")) / "transcripts"
            )
            if self.group.transcribe is not None
            else None
        )

    def __repr__(self) -> str:
        return f"Actor({self.name!r}, conference={self.plan.conference!r})"

    # --- state the others read ----------------------------------------------------------------

    @property
    def registered(self) -> bool:
        return self.participant is not None

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
        """The records of the streams this participant views now, or is setting up to view
        (one that never connects is viewed and not flowing, not left out of the count)."""
        return [view.result for view in self._views.values()]

    def receiving(self, stream_id: str) -> bool:
        tracker = self.views.get(stream_id)
        return tracker is not None and tracker.viewer.frames(_main_kind(tracker.viewer)) > 0

    # --- endpoint -----------------------------------------------------------------------------

    async def register(self, keep_alive: float) -> None:
        if self.participant is not None:
            raise StepFailed("already registered")
        network = shaper_for(self.group.network, self.plan.index, scale=self.run.clock.scale)
        if network is not None:
            network.start(self.run.clock.origin)  # its schedule counts from the run's start
        policy = self.run.view_policy(self.group, self._record_dir())
        if self.listening is not None:
            await self.listening.start()
            policy = self.listening.policy(policy)
        participant = Participant(
            self.run.platform.base_url,
            await self._login(),
            name=self.name,
            keep_alive_seconds=max(1, round(keep_alive)),
            view_policy=policy,
            retry=self.run.retry,
            video_codecs=video_codecs(self.group.publish),
            network=network,
        )
        participant.view_filter = self._wants
        participant.view_watcher = self
        try:
            await participant.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await participant.close()
            raise
        self.participant = participant
        self._unsubscribe = participant.subscribe(self._on_event)
        self.snapshot_target = SnapshotTarget(
            participant,
            None,
            snapshot=response_policy(self.group.snapshot.action, self.group.snapshot.delay),
            camera=response_policy(self.group.camera.action, self.group.camera.delay),
            own_camera=self._own_camera,
        )
        self.snapshot_target.start()
        self.requester = SnapshotRequester(participant)

    async def _login(self) -> TokenProvider:
        group, platform = self.group, self.run.platform
        if group.role == "customer":
            if self.plan.ticket is not None:
                return TicketLogin(self.plan.ticket)
            conference_id = await platform.conference(self.plan.conference)
            return await platform.ticket(conference_id, self.name)
        return platform.agent_login(group_login(self.plan))

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
            if participant.lost is not None:  # resuming, or given up: say that, not "join"
                raise StepFailed(f"not in its conference now: {participant.lost}")
            raise StepFailed("not in a conference: a `join` step must come first")
        return participant, participant.conference_id, participant.endpoint_id

    # --- conference ---------------------------------------------------------------------------

    async def join(self, conference: str | None) -> None:
        participant = self.require()
        name = render(conference, self.template) if conference else self.plan.conference
        conference_id = await self.run.platform.conference(name)
        started = self.run.clock.now()
        self.targets = _groups(self.group.view, self.run.group_names)
        # The display name travels as participant metadata, for the others to show.
        shown = self.plan.display_name
        self._conference_id = conference_id  # events of this conference count from now on
        try:
            view = await participant.join(conference_id, {"name": shown} if shown else None)
        except BaseException:
            self._conference_id = None
            raise
        self.record.joined(started, self.targets)
        self._heard_present(view)

    def _heard_present(self, view: ConferenceSimpleView) -> None:
        """What was there before the join counts as heard (a `wait_for` a stream published
        just before joining must not wait forever)."""
        now = self.run.clock.now()
        for member in view.participants or []:
            for endpoint in member.endpoints or []:
                if endpoint.id == self.endpoint_id:
                    continue
                self.record.heard.append((now, "ConferenceJoinedEvent"))
                for stream in endpoint.streams or []:
                    if stream.id:
                        self.record.heard.append((now, "ConferenceStreamPublishedEvent"))

    async def leave(self) -> None:
        participant, _, _ = self.require_joined()
        for published in list(self.published.values()):
            await published.tracker.sample(self.run.clock)
        await self._final_samples()
        try:
            await participant.leave()
        finally:
            self._end_streams()
            self.record.left()
            self._conference_id = None

    def _end_streams(self) -> None:
        for key, published in self.published.items():
            published.tracker.end(self.run.clock)
            published.media.stop()
            self.speaking.stopped(key)
        self.published.clear()
        self.record.end_streams([view.result for view in self._views.values()])
        self.views.clear()
        self._views.clear()
        self._snapshot_stream = None
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
            speaking = spec.source == "speech"  # its audio is its own: what it alone says
            media = self.run.media.open(
                profile_of(spec, self.run.base),
                tuple(k for k in media_kinds(spec.type.value) if not (speaking and k == "audio")),
                own=spec.encoder == "own",
            )
            if speaking:
                self.speaking.attach(spec, media)
            started = self.run.clock.now()
            try:
                publisher = await participant.publish(
                    spec.type.value,
                    dict(media.tracks),
                    metadata=render_value(spec.metadata, self.template) if spec.metadata else None,
                    video_bitrate=int(spec.bitrate) if spec.bitrate is not None else None,
                )
            except BaseException:
                media.stop()
                raise
            result = new_stream(
                publisher.stream_id or "", StreamDirection.PUBLISH, spec.type.value, started
            )
            result.setup_time = self.run.clock.now() - started
            self.record.stream(result)
            self.published[spec.key] = Published(
                spec, media, PublishTracker(publisher, result, participant.current)
            )
            if speaking:
                self.speaking.published(spec, publisher.stream_id)
            target = self.snapshot_target
            if _is_camera(spec) and target is not None and self._snapshot_stream is None:
                self._snapshot_stream = spec.key  # the first camera stream: snapshots show it
                target.tap = media.tap

    async def _own(self, published: Published, kind: str) -> MutableTrack:
        """`kind` of this stream from its own source and encoder from now on (see
        `SentMedia.own`); snapshots then show that source."""
        track = await published.media.own(kind, published.publisher)
        target = self.snapshot_target
        if kind == "video" and target is not None and self._snapshot_stream == published.spec.key:
            target.tap = published.media.tap
        return track

    async def _own_camera(self) -> None:
        """Before a camera request changes the picture: the snapshot camera's stream gets its
        own camera, so the others sharing its profile go on sending theirs unchanged."""
        published = self.published.get(self._snapshot_stream or "")
        if published is not None:
            await self._own(published, "video")

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
                if self._snapshot_stream == spec.key:
                    self._snapshot_stream = None
                    if self.snapshot_target is not None:
                        self.snapshot_target.tap = None
                published.media.stop()
                self.speaking.stopped(spec.key)

    async def mute(self, names: list[str] | None, media: str, muted: bool) -> None:
        """Send black frames or silence (or the source again) on these streams' `media`
        track, as a browser does when its track is disabled. A muted stream stops sharing
        its source: the others of its profile go on sending theirs."""
        for spec in self._specs(names):
            published = self.published.get(spec.key)
            if published is None or media not in published.media.tracks:
                continue
            if not muted and published.media.shared(media):
                continue  # never muted: nothing to undo
            track = await self._own(published, media)
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

    # --- viewing: the core follows `_wants`; the actor keeps the record -----------------------

    def _wants(self, stream: RemoteStream) -> bool:
        if stream.endpoint_id is not None and stream.endpoint_id == self.endpoint_id:
            return False
        return self.run.roster.group_of(stream.endpoint_id) in self.targets

    async def view(self, of: str | list[str]) -> None:
        """View the streams of `of` published now, and from now on; wait until they flow."""
        participant, _, _ = self.require_joined()
        self.targets |= _groups(of, self.run.group_names)
        self.record.viewing(self.targets)
        await participant.follow()

    async def stop_view(self, of: str | list[str]) -> None:
        participant, _, _ = self.require_joined()
        self.targets -= _groups(of, self.run.group_names)
        self.record.viewing(self.targets)
        await participant.follow()

    def view_starting(self, viewer: Viewer) -> None:
        publisher = self.run.roster.by_endpoint(viewer.publisher_endpoint_id)
        result = new_stream(
            viewer.stream_id,
            StreamDirection.VIEW,
            viewer.stream_type.value,
            self.run.clock.now(),
            publisher=publisher.name if publisher is not None else viewer.publisher_endpoint_id,
        )
        self._views[id(viewer)] = _View(self.record.stream(result), self.run.clock.now())

    def view_started(self, viewer: Viewer, error: Exception | None) -> None:
        view = self._views.get(id(viewer))
        if view is None:
            return  # left meanwhile: `leave` ended the record
        result, now = view.result, self.run.clock.now()
        participant = self.participant
        if error is not None:
            result.ended_at = now
            self._views.pop(id(viewer), None)
            unpublished = participant is None or viewer.stream_id not in participant.streams
            gone = unpublished or viewer.state is StreamState.GONE
            self.record.step("view", view.started, ok=gone)
            if not gone:  # a stream unpublished meanwhile (churn) is no failure
                what = f"viewing {result.publisher}'s {viewer.stream_type.value} failed: {error}"
                self.record.error("view", what)
            return
        result.setup_time = now - view.started
        result.viewer_id = viewer.viewer_id
        self.record.step("view", view.started, ok=True)
        view.tracker = self.views[viewer.stream_id] = ViewTracker(viewer, result)

    async def view_ending(self, viewer: Viewer) -> None:
        view = self._views.pop(id(viewer), None)
        if view is None:
            return
        if self.views.get(viewer.stream_id) is view.tracker:
            del self.views[viewer.stream_id]
        try:
            if view.tracker is not None:
                await view.tracker.sample(self.run.clock)
        finally:
            view.result.ended_at = view.result.ended_at or self.run.clock.now()

    def _on_event(self, event: Event) -> None:
        """What the others did, as heard (`wait_for`, `after`); from the event channel's task."""
        if isinstance(event, ConferenceNetworkIndicatorUpdatedEvent):
            self._platform_said(event)
        if getattr(event, "user_endpoint_id", None) == self.endpoint_id:
            return
        if isinstance(event, ConferenceEvent) and event.conference_id != self._conference_id:
            return
        self.record.heard.append((self.run.clock.now(), event.type))

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
        """The platform caps the sender (REMB): a shared encoder keeps its bitrate for all its
        streams, so these streams get their own video encoder first."""
        participant, conference_id, endpoint_id = self.require_joined()
        stream_ids = self.stream_ids(names)
        for spec in self._specs(names):
            published = self.published.get(spec.key)
            if published is not None and published.media.shared("video"):
                await self._own(published, "video")
        for stream_id in stream_ids:
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
        participant = self.participant
        if participant is not None:
            self._record_network(participant)
            if self.joined:
                await self.record.closing_step("leave", self.leave())
            await self._detach()
            self.participant = None
            await self.record.closing_step("unregister", participant.close())
        elif self._closing is not None and not self._closing.closed:
            await self.record.closing_step("unregister", self._closing.close())
        await self.speaking.close()
        self._end_streams()
        if self.listening is not None:
            await self.listening.close(self.result, self.run.clock)
        self.present = False

    def _platform_said(self, event: ConferenceNetworkIndicatorUpdatedEvent) -> None:
        mine = (event.participant_indicator_map or {}).get(self.endpoint_id or "")
        if mine is None:
            return
        if self.result.network is None:
            self.result.network = NetworkRecord()
        self.result.network.platform.append(
            NetworkIndication(
                t=self.run.clock.now(),
                grade=str(mine.grade) if mine.grade is not None else None,
                jitter=mine.average_jitter,
                rtt=mine.average_rtt,
                quality=mine.average_network_quality,
            )
        )

    def _record_network(self, participant: Participant) -> None:
        shaper = participant.network
        if shaper is None:
            return
        origin = self.run.clock.origin
        said = self.result.network.platform if self.result.network is not None else []
        self.result.network = NetworkRecord(
            platform=said,
            changes=[NetworkChange(t=at - origin, profile=name) for at, name in shaper.changes],
            up=shaper.up.counters.to_dict(),
            down=shaper.down.counters.to_dict(),
        )


def _groups(of: str | list[str], names: list[str]) -> set[str]:
    if of == "all":
        return {*names, OTHERS}
    if of == "none":
        return set()
    return set(of)


def _is_camera(spec: StreamSpec) -> bool:
    return spec.type in (StreamType.CAM, StreamType.MIC_AND_CAM)


def _main_kind(viewer: Viewer) -> str:
    return "video" if "video" in viewer.sinks else "audio"
