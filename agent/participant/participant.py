"""A participant of the platform: endpoint lifecycle, one conference, its streams.

Call order (PROTOCOL.md, "Call order of a participant"):

    async with Participant(base_url, ClientCredentials(id, secret)) as me:   # token, register,
        await me.join(conference_id)            # keepalive, ICE servers, event channel
        publisher = await me.publish(ConferenceStreamType.MIC_AND_CAM, tracks)
        ...                                     # others' streams are viewed per the policy
    # leave (close pcs, unpublish, stop viewing, leave), then unregister: always, also on
    # errors and cancellation

The participant follows ConferenceStreamPublished/Unpublished events of the other endpoints
(in conference-version order, through the event channel's ordering) to view and stop viewing;
its own endpoint's events are not acted on. This is the one view-following state machine:
`streams` is what the others publish now, the view policy and `view_filter` say which of them
to view, `follow()` applies a changed filter, and a `ViewWatcher` (a scenario's record
keeping) hears each view start, fail and end. A conference that ends, or a leave the platform
made for it (endpoint expiry), closes everything locally. Every step is a timed record in
`timeline`; `measurements()` gives the media figures of every stream.

Resume (issue 16): keepalives without an answer are retried with backoff; a keepalive the
platform answers with "gone" (the registration expired, or the platform restarted and forgot
it) makes the participant come back by itself: re-register, a new event channel on the new
topic, `GET /conferences/active`, rejoin the conference it was in, republish its streams and
view the others again. Each resume is a `resume` record (what broke, how long until its
streams were connected again); one that cannot finish says why in `lost` and keeps trying
within the `ResumePolicy`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any, Literal, Protocol, Self

from aiortc import MediaStreamTrack

from agent.api.auth import TokenProvider
from agent.api.client import AuviousClient
from agent.api.errors import ApiError
from agent.api.models import (
    ConferenceSimpleView,
    ConferenceStreamType,
    JoinConferenceWebCommand,
    KeepUserEndpointAliveWebCommand,
    LeaveConferenceWebCommand,
    RegisterUserEndpointWebCommand,
    UnregisterUserEndpointWebCommand,
)
from agent.api.models.events import (
    ConferenceEndedEvent,
    ConferenceEvent,
    ConferenceLeftEvent,
    ConferenceStreamPublishedEvent,
    ConferenceStreamUnpublishedEvent,
    Event,
)
from agent.events.channel import ChannelError, EventChannel, channel_url
from agent.network import NetworkShaper
from agent.participant.heap import PERIODIC_SECONDS, release_after_fault, release_free_heap
from agent.participant.policy import ResumePolicy, RetryPolicy, ViewPolicy
from agent.participant.publisher import Publisher, PublisherMeasurements
from agent.participant.records import Timeline, describe
from agent.participant.supervised import StreamState, SupervisedStream, is_gone
from agent.participant.viewer import Viewer, ViewerMeasurements
from agent.webrtc import seams
from agent.webrtc.factory import VideoCodec
from agent.webrtc.ice_servers import (
    NO_ICE_SERVERS,
    IceServers,
    ice_servers_from_v1,
    ice_servers_from_v2,
)
from agent.webrtc.trickle import DEFAULT_GATHER_TIMEOUT

__all__ = ["Participant", "ParticipantMeasurements", "RemoteStream", "ViewWatcher"]

log = logging.getLogger(__name__)

MIN_KEEPALIVE_INTERVAL = 1.0
KEEPALIVE_LEAD = 5.0
"""Keepalives go this many seconds before the endpoint would expire (PROTOCOL.md, step 2)."""
ICE_SERVERS_REFRESH = 0.8
"""ICE servers are fetched again once this fraction of their `ttl` has passed."""
VIEW_ENDING_TIMEOUT = 2.0
"""Seconds a view watcher gets for a last reading of a view that is dropped (a resume)."""


@dataclass(frozen=True, slots=True)
class ParticipantMeasurements:
    name: str
    endpoint_id: str | None
    conference_id: str | None
    publishers: list[PublisherMeasurements]
    viewers: list[ViewerMeasurements]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RemoteStream:
    """A stream another endpoint of the conference publishes now."""

    stream_id: str
    stream_type: str | None
    endpoint_id: str | None


_Republish = tuple[
    ConferenceStreamType, dict[str, MediaStreamTrack], dict[str, Any] | None, int | None
]
"""What a resume publishes again: stream type, tracks, metadata, video bitrate."""


class ViewWatcher(Protocol):
    """Hears what happens to the participant's views (all calls from its own tasks)."""

    def view_starting(self, viewer: Viewer) -> None:
        """A view is being set up."""

    def view_started(self, viewer: Viewer, error: Exception | None) -> None:
        """Its setup ended: media can flow (`error` None) or it failed."""

    async def view_ending(self, viewer: Viewer) -> None:
        """It is about to stop (the stream unpublished, or no longer wanted): last chance to
        read its figures. Errors are ignored."""


class Participant:
    """One user endpoint of the platform at `base_url`, logged in by `auth`.

    `start()` installs the process-wide seams (`agent.webrtc.seams.install()`: the cheaper
    packet path, draining ICE sockets, the chosen host addresses), which the default light
    reception and the pushed sending are measured with; `install_seams=False` leaves the
    process as it is (aiortc's own paths) for a bot that shares the process with other
    aiortc code. The per-stream levers still reach into aiortc and are version-gated."""

    def __init__(
        self,
        base_url: str,
        auth: TokenProvider,
        *,
        name: str | None = None,
        keep_alive_seconds: int = 30,
        view_policy: ViewPolicy | None = None,
        retry: RetryPolicy | None = None,
        gather_timeout: float = DEFAULT_GATHER_TIMEOUT,
        video_codecs: tuple[VideoCodec, ...] = ("VP8",),
        register_with: Literal["endpoints", "register"] = "endpoints",
        event_channel_url: str | None = None,
        connect_timeout: float = 15.0,
        install_seams: bool = True,
        network: NetworkShaper | None = None,
        resume: ResumePolicy | None = None,
    ) -> None:
        if keep_alive_seconds < 1:
            raise ValueError(f"keep_alive_seconds must be >= 1, got {keep_alive_seconds}")
        self.name = name or "participant"
        self.api = AuviousClient(base_url, auth)
        self.auth = auth
        self.keep_alive_seconds = keep_alive_seconds
        self.view_policy = view_policy or ViewPolicy()
        self.retry = retry or RetryPolicy()
        self.gather_timeout = gather_timeout
        self.video_codecs = video_codecs
        self.register_with = register_with
        self.event_channel_url = event_channel_url or channel_url(base_url)
        self.connect_timeout = connect_timeout
        self.install_seams = install_seams
        self.network = network
        """This participant's link (every peer connection shares it); None: the host's own."""
        self.resume_policy = resume or ResumePolicy()
        self.timeline = Timeline(self.name)

        self.user_id: str | None = None
        self.endpoint_id: str | None = None
        self.conference_id: str | None = None
        self.channel: EventChannel | None = None
        self.publishers: list[Publisher] = []
        self.viewers: dict[str, Viewer] = {}
        """Viewed streams by stream id (ended ones stay until the stream is unpublished)."""
        self.streams: dict[str, RemoteStream] = {}
        """What the other endpoints of the conference publish now, by stream id."""
        self.view_filter: Callable[[RemoteStream], bool] | None = None
        """Which of `streams` to view, beyond the view policy (None: all it allows)."""
        self.view_watcher: ViewWatcher | None = None
        self.keepalives = 0
        self.keepalive_failures = 0
        """Keepalives unanswered or refused since the last one the platform answered: while
        any, the registration is in doubt (the platform may have restarted and forgotten it)."""
        self.resumes = 0
        """Resumes that brought the participant back."""
        self.lost: str | None = None
        """Why the participant is not (yet) back, while a resume is failing or gave up."""
        self.home_conference: str | None = None
        """The conference a resume rejoins: the last one joined and not left on purpose."""
        self._home_metadata: dict[str, Any] | None = None
        """The participant metadata it joined `home_conference` with (a display name): a
        rejoin sends it again."""
        self._intended: list[tuple[Publisher, _Republish]] = []
        """What the participant means to publish (kept when the platform drops its streams)."""
        self._successors: weakref.WeakKeyDictionary[Publisher, Publisher] = (
            weakref.WeakKeyDictionary()
        )
        """A publisher a resume or a heal replaced -> the one publishing its tracks since
        (weak: an old publisher nobody holds is not kept alive for this)."""

        self._ice: IceServers | None = None
        self._ice_fetched_at = 0.0
        self._ice_lock = asyncio.Lock()
        self._keepalive_task: asyncio.Task[None] | None = None
        self._resume_task: asyncio.Task[None] | None = None
        self._heal_task: asyncio.Task[None] | None = None
        self._event_task: asyncio.Task[None] | None = None
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._view_tasks: dict[str, asyncio.Task[None]] = {}
        self._unsubscribe: Callable[[], None] | None = None
        self._listeners: list[Callable[[Event], None]] = []
        self._leaving = False
        self._close_task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return (
            f"Participant({self.name!r}, endpoint={self.endpoint_id!r}, "
            f"conference={self.conference_id!r})"
        )

    # --- endpoint lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Token, register, keepalive, ICE servers, event channel connected and subscribed.

        The ICE servers need only the token: they are fetched while the endpoint registers and
        its event channel connects, which takes them off the join path."""
        if self.endpoint_id is not None:
            raise RuntimeError(f"{self.name} is already started (endpoint {self.endpoint_id})")
        if self.install_seams:
            seams.install()  # idempotent; SeamsUnsupported on versions they were not written for
        if self.network is not None:
            self.network.start()  # its schedule counts from now unless started before
        with self.timeline.step("token"):
            claims = await self.api.claims()
        if not claims.sub:
            raise ValueError("the token names no user (no 'sub' claim): cannot subscribe")
        self.user_id = claims.sub
        ice = asyncio.ensure_future(self._ice_servers())
        try:
            await self._register()
            await self._connect_channel(self.user_id)
            await ice
        finally:
            if not ice.done():
                ice.cancel()
                await asyncio.wait([ice])

    async def _register(self) -> None:
        await self._register_endpoint()
        self._keepalive_task = asyncio.get_running_loop().create_task(
            self._keep_alive(), name=f"keepalive-{self.name}"
        )

    async def _register_endpoint(self) -> None:
        with self.timeline.step("register", keep_alive_seconds=self.keep_alive_seconds) as rec:
            command = RegisterUserEndpointWebCommand(keep_alive_seconds=self.keep_alive_seconds)
            if self.register_with == "register":
                self.endpoint_id = (await self.api.registrations.register_ios(command)).id
            else:
                self.endpoint_id = await self.api.registrations.register(command)
            if not self.endpoint_id:
                raise ValueError("registration answered without an endpoint id")
            rec.details["endpoint_id"] = self.endpoint_id

    async def _connect_channel(self, user_id: str) -> None:
        assert self.endpoint_id is not None
        with self.timeline.step("event-channel"):
            self.channel = EventChannel(
                self.event_channel_url,
                self.auth,
                user_id,
                self.endpoint_id,
                fetch_since=self.api.conferences.events,
            )
            self._unsubscribe = self.channel.subscribe(self._deliver)
            self._event_task = asyncio.get_running_loop().create_task(
                self._handle_events(), name=f"events-{self.endpoint_id}"
            )
            await self.channel.start()
            await self.channel.wait_connected(self.connect_timeout)

    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        """Call `listener(event)` for every event of the participant's event channel, also of
        the new channel a resume connects (a subscription to `channel` itself ends with that
        channel); returns the unsubscribe function. Listeners run on the channel's task and
        must not block."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return unsubscribe

    def _deliver(self, event: Event) -> None:
        self._events.put_nowait(event)
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("%s: an event listener failed on %s", self.name, event.type)

    @property
    def keepalive_interval(self) -> float:
        return max(MIN_KEEPALIVE_INTERVAL, self.keep_alive_seconds - KEEPALIVE_LEAD)

    def stop_keepalive(self) -> None:
        """Stop sending keepalives (the platform then expires the endpoint); this also stops a
        resume under way."""
        for task in (self._keepalive_task, self._resume_task, self._heal_task):
            if task is not None:
                task.cancel()
        self._keepalive_task = self._resume_task = self._heal_task = None

    @property
    def gave_up(self) -> bool:
        """It is lost and no longer trying to come back (the resume policy's bound passed, or
        resuming is off): `lost` says why."""
        task = self._keepalive_task
        return self.lost is not None and (task is None or task.done())

    @property
    def closed(self) -> bool:
        """close() has finished its work (successfully or not)."""
        return self._close_task is not None and self._close_task.done()

    async def close(self) -> None:
        """Leave (if joined), stop the background tasks, unregister, close connections.

        The work runs in one task that a cancelled caller does not stop: Ctrl-C or the end of
        a run must not leave the endpoint registered until it expires. A cancelled caller
        waits for that task up to one HTTP timeout (`api.http.timeout`, 15 s by default),
        then gets its CancelledError; the work goes on past that bound. Every call shares the
        task: a second close() waits for the first one's work and sees its outcome."""
        if self._close_task is None:
            self._close_task = asyncio.get_running_loop().create_task(
                self._close(), name=f"close-{self.name}"
            )
        task = self._close_task
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if not task.done():  # the caller was cancelled, not the work
                await asyncio.wait([task], timeout=self.api.http.timeout)
            task.add_done_callback(self._log_close_failure)
            raise

    def _log_close_failure(self, task: asyncio.Task[None]) -> None:
        """The outcome of a close whose caller was cancelled, who cannot be told of it."""
        error = None if task.cancelled() else task.exception()
        if error is not None:
            log.warning("%s: closing failed: %s", self.name, describe(error))

    async def _close(self) -> None:
        """Every step runs even when one fails; the first unexpected error is raised at the end."""
        errors: list[BaseException] = []
        try:
            background = [
                t
                for t in (self._keepalive_task, self._resume_task, self._heal_task)
                if t is not None
            ]
            self.stop_keepalive()  # first: a resume under way must not rejoin behind our back
            if background:
                await asyncio.wait(background)
            if self.conference_id is not None:
                await _collect(errors, self.leave())
            await self._drop_channel(errors)
            if self.endpoint_id is not None:
                endpoint_id, self.endpoint_id = self.endpoint_id, None
                await _collect(errors, self._unregister(endpoint_id))
        finally:
            # Also when cancelled half-way (a run ending during an unregister step): the HTTP
            # session is ours, and nobody else can close it.
            await _collect(errors, self.api.close())
            if self.network is not None:
                self.network.close()
        if errors:
            raise errors[0]

    async def _unregister(self, endpoint_id: str) -> None:
        with self.timeline.step("unregister", endpoint_id=endpoint_id):
            await _unless_gone(
                self.api.registrations.unregister(
                    UnregisterUserEndpointWebCommand(user_endpoint_id=endpoint_id)
                )
            )

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.close()
        except Exception:
            if exc is None:
                raise
            log.exception("%s: cleanup after an error failed", self.name)

    async def _keep_alive(self) -> None:
        """Keep the endpoint alive; retry unanswered keepalives; resume when it is gone.

        The resume runs in its own task: the endpoint it registers needs keepalives from the
        start, while the resume still rejoins and republishes."""
        self.keepalive_failures = 0
        while True:
            wait = self.keepalive_interval
            if self.keepalive_failures:
                wait = min(wait, self.resume_policy.delay(self.keepalive_failures - 1))
            await asyncio.sleep(wait)
            endpoint_id = self.endpoint_id
            if endpoint_id is None:
                continue  # a resume is registering a new one
            try:
                await self.api.registrations.keepalive(
                    KeepUserEndpointAliveWebCommand(user_endpoint_id=endpoint_id)
                )
                self.keepalives += 1
                self.keepalive_failures = 0
                release_free_heap(unless_within=PERIODIC_SECONDS)
                if self._needs_healing() and (self._heal_task is None or self._heal_task.done()):
                    self._heal_task = asyncio.get_running_loop().create_task(
                        self._heal(), name=f"heal-{self.name}"
                    )
            except ApiError as exc:
                self.keepalive_failures += 1
                self.timeline.note("keepalive", ok=False, error=describe(exc))
                log.warning("%s: keepalive failed: %s", self.name, exc)
                if not is_gone(exc) or endpoint_id != self.endpoint_id:
                    continue  # no answer, or the platform failing: try again soon
                if not self.resume_policy.enabled:
                    self.lost = f"the platform no longer knows endpoint {endpoint_id}: {exc}"
                    return
                if self._resume_task is None or self._resume_task.done():
                    self.keepalive_failures = 0
                    self.endpoint_id = None  # gone: no keepalives until the resume registers
                    self.lost = f"resuming after keepalive: {describe(exc)}"
                    self._resume_task = asyncio.get_running_loop().create_task(
                        self._resume_in_background(f"keepalive: {describe(exc)}"),
                        name=f"resume-{self.name}",
                    )

    def _failed_streams(self) -> tuple[list[Publisher], list[Viewer]]:
        publishers = [p for p, _ in self._intended if p.state is StreamState.FAILED]
        viewers = [
            v
            for v in self.viewers.values()
            if v.state is StreamState.FAILED
            and v.stream_id in self.streams
            and self.wants(self.streams[v.stream_id])
        ]
        return publishers, viewers

    def _needs_healing(self) -> bool:
        return self.conference_id is not None and any(self._failed_streams())

    async def _heal(self) -> None:
        """The registration survived an outage but some streams ran out of retries (the
        platform was unreachable longer than the retry policy lasts): publish and view them
        again, now that a keepalive got through. One `heal` record per pass; a pass that
        fails is tried again after the next keepalive."""
        publishers, viewers = self._failed_streams()
        try:
            with self.timeline.step(
                "heal", publishers=len(publishers), views=len(viewers)
            ) as record:
                started = time.monotonic()
                for viewer in viewers:
                    stream = self.streams[viewer.stream_id]
                    self._start_viewing(stream.stream_id, stream.stream_type, stream.endpoint_id)
                for publisher in publishers:
                    stream_type, tracks, metadata, bitrate = next(
                        spec for p, spec in self._intended if p is publisher
                    )
                    self._successors[publisher] = await self.publish(
                        stream_type, tracks, metadata=metadata, video_bitrate=bitrate
                    )
                    with contextlib.suppress(ValueError):
                        self.publishers.remove(publisher)
                    self._intended = [(p, s) for p, s in self._intended if p is not publisher]
                views = [
                    self._view_tasks[v.stream_id]
                    for v in viewers
                    if v.stream_id in self._view_tasks
                ]
                if views:
                    await asyncio.wait(views, timeout=self.resume_policy.media_timeout)
                record.details["seconds_to_media"] = round(time.monotonic() - started, 3)
        except (ApiError, ConnectionError, TimeoutError) as exc:
            log.warning("%s: bringing failed streams back failed: %s", self.name, describe(exc))

    async def _resume_in_background(self, cause: str) -> None:
        try:
            await self.resume(cause)
        except ConnectionError:  # gave up, as the policy allows: `lost` says why
            keepalive, self._keepalive_task = self._keepalive_task, None
            if keepalive is not None:
                keepalive.cancel()

    async def resume(self, cause: str) -> None:
        """Come back after losing the registration: re-register, a new event channel,
        rejoin the conference it was in (if the platform still lists it as active), republish
        the same tracks, view the others again. Retries with the policy's backoff until it
        works or `give_up_after` passes (then raises ConnectionError, `lost` says why).

        One `resume` record per call: `cause`, `attempts`, and `seconds_to_media` (from the
        start of the resume until its publishers and views were connected again)."""
        policy = self.resume_policy
        started = time.monotonic()
        conference_id = self.conference_id or self.home_conference
        republish = list(self._intended)
        with self.timeline.step("resume", cause=cause, conference_id=conference_id) as record:
            self.lost = f"resuming after {cause}"
            await self._close_streams(SupervisedStream.drop, told=True)
            self._intended = []
            if self.conference_id is not None:
                self._forget_conference(self.conference_id)
            await self._drop_channel()
            self.endpoint_id = None  # gone (a resume never unregisters it: nothing to keep)
            attempt = 0
            while True:
                try:
                    await self._come_back(conference_id, republish, record.details)
                    break
                except (ApiError, ChannelError, TimeoutError, ConnectionError) as exc:
                    self.lost = f"resume after {cause} failing: {describe(exc)}"
                    self.timeline.note("resume-attempt", ok=False, error=describe(exc))
                    log.warning("%s: %s", self.name, self.lost)
                    elapsed = time.monotonic() - started
                    if policy.give_up_after is not None and elapsed >= policy.give_up_after:
                        self.lost = f"gave up after {elapsed:.0f} s: {self.lost}"
                        raise ConnectionError(self.lost) from exc
                    await self._undo_partial_resume()
                    await asyncio.sleep(policy.delay(attempt))
                    attempt += 1
            record.details["attempts"] = attempt + 1
            record.details["seconds_to_media"] = round(time.monotonic() - started, 3)
            self.lost = None
            self.resumes += 1
            # The old connections are garbage by now (in reference cycles): free, give back.
            release_after_fault()
            log.info("%s: resumed after %s in %.1f s", self.name, cause, time.monotonic() - started)

    async def _come_back(
        self,
        conference_id: str | None,
        republish: list[tuple[Publisher, _Republish]],
        details: dict[str, Any],
    ) -> None:
        assert self.user_id is not None
        if self.endpoint_id is None:
            await self._register_endpoint()
        if self.channel is None:
            await self._connect_channel(self.user_id)
        if conference_id is None:
            return
        if self.conference_id is None:
            with self.timeline.step("active", conference_id=conference_id) as record:
                active = {c.id for c in await self.api.conferences.active()}
                record.details["active"] = conference_id in active
            if conference_id not in active:
                details["conference"] = "gone"
                self.home_conference = None
                return
            await self.join(conference_id, self._home_metadata)
        for old, (stream_type, tracks, metadata, bitrate) in republish[len(self._intended) :]:
            self._successors[old] = await self.publish(
                stream_type, tracks, metadata=metadata, video_bitrate=bitrate
            )
        views = list(self._view_tasks.values())
        if views:
            await asyncio.wait(views, timeout=self.resume_policy.media_timeout)
        details["publishers"] = len(self.publishers)
        details["views"] = sum(1 for v in self.viewers.values() if not v.ended.is_set())

    async def _undo_partial_resume(self) -> None:
        """After a failed attempt: the conference part is redone from scratch next time
        (the registration and channel stay, if they came up)."""
        await self._close_streams(SupervisedStream.drop, told=True)
        self._intended = []
        if self.conference_id is not None:
            self._forget_conference(self.conference_id)

    async def _drop_channel(self, errors: list[BaseException] | None = None) -> None:
        """Close the event channel and stop handling its events; a close error goes to
        `errors` (a resume ignores it: the old channel is of no use anyway)."""
        channel, self.channel = self.channel, None
        if channel is not None:
            await _collect(errors if errors is not None else [], channel.close())
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._event_task is not None:
            self._event_task.cancel()
            await asyncio.wait([self._event_task])
            self._event_task = None

    async def _ice_servers(self) -> IceServers:
        """The platform's ICE servers (`/iceServers/v2`, else `/iceServers`), cached for 80%
        of their ttl. A platform with neither gets none: host candidates only."""
        async with self._ice_lock:
            age = time.monotonic() - self._ice_fetched_at
            if self._ice is not None and (
                self._ice.ttl is None or age < self._ice.ttl * ICE_SERVERS_REFRESH
            ):
                return self._ice
            with self.timeline.step("ice-servers") as record:
                try:
                    self._ice = ice_servers_from_v2(await self.api.ice.servers_v2())
                    record.details["source"] = "v2"
                except ApiError as v2_error:
                    try:
                        self._ice = ice_servers_from_v1(await self.api.ice.servers())
                        record.details["source"] = "v1"
                    except ApiError as v1_error:
                        log.warning("%s: no ICE servers (%s; %s)", self.name, v2_error, v1_error)
                        record.ok = False
                        record.error = f"{describe(v2_error)}; {describe(v1_error)}"
                        self._ice = NO_ICE_SERVERS
                record.details["stun"] = self._ice.stun is not None
                record.details["turn"] = self._ice.turn is not None
            self._ice_fetched_at = time.monotonic()
            return self._ice

    # --- conference --------------------------------------------------------------------------

    def _require_endpoint(self) -> tuple[str, EventChannel]:
        if self.endpoint_id is None or self.channel is None:
            if self.lost is not None:  # registered once: resuming, or given up
                raise RuntimeError(f"the participant is not registered now: {self.lost}")
            raise RuntimeError("the participant is not started (use `async with` or start())")
        return self.endpoint_id, self.channel

    def _require_conference(self) -> tuple[str, str]:
        endpoint_id, _ = self._require_endpoint()
        if self.conference_id is None:
            raise RuntimeError("the participant has not joined a conference")
        return endpoint_id, self.conference_id

    async def join(
        self, conference_id: str, metadata: Mapping[str, Any] | None = None
    ) -> ConferenceSimpleView:
        """Join, read the simple view (its version orders the events from now on), and view
        the streams already published, as the view policy says."""
        endpoint_id, channel = self._require_endpoint()
        if self.conference_id is not None:
            raise RuntimeError(f"already in conference {self.conference_id}; leave it first")
        channel.ordering.expect(conference_id)
        try:
            with self.timeline.step("join", conference_id=conference_id):
                await self.api.conferences.join(
                    JoinConferenceWebCommand(
                        conference_id=conference_id,
                        user_endpoint_id=endpoint_id,
                        metadata=dict(metadata) if metadata is not None else None,
                    )
                )
            self.conference_id = conference_id
            self.home_conference = conference_id
            self._home_metadata = dict(metadata) if metadata is not None else None
            self._leaving = False
            with self.timeline.step("simple-view", conference_id=conference_id) as record:
                view = await self.api.conferences.simple_view(conference_id)
                record.details["version"] = view.version
        except BaseException:
            channel.ordering.forget(conference_id)
            raise
        if view.version is None:
            channel.ordering.forget(conference_id)  # nothing to order by: events as they come
        else:
            channel.ordering.track(conference_id, view.version)
        for participant in view.participants or []:
            for endpoint in participant.endpoints or []:
                if endpoint.id == endpoint_id:
                    continue
                for stream in endpoint.streams or []:
                    if stream.id:
                        kind = str(stream.type) if stream.type is not None else None
                        self._published(RemoteStream(stream.id, kind, endpoint.id))
        return view

    def wants(self, stream: RemoteStream) -> bool:
        """Whether the participant views `stream` (of another endpoint) on its own."""
        if not self.view_policy.wants(stream.stream_type):
            return False
        return self.view_filter is None or self.view_filter(stream)

    def _published(self, stream: RemoteStream) -> None:
        self.streams[stream.stream_id] = stream
        if not self.wants(stream):
            return
        if self.endpoint_id is None and self.lost is not None:
            # The registration is gone and a resume under way (an event queued before the
            # keepalive found out): its rejoin views what the conference has by then.
            log.info("%s: %s published while %s", self.name, stream.stream_id, self.lost)
            return
        self._start_viewing(stream.stream_id, stream.stream_type, stream.endpoint_id)

    async def follow(self) -> list[Viewer]:
        """Apply a changed `view_filter`: view the streams it wants now and stop viewing the
        others; returns the views it started once each is set up (failed or not)."""
        self._require_conference()
        wanted = {s.stream_id for s in self.streams.values() if self.wants(s)}
        for stream_id in [s for s in self.viewers if s not in wanted]:
            await self.stop_viewing(stream_id)
        started = []
        for stream in list(self.streams.values()):
            viewer = self.viewers.get(stream.stream_id)
            if self.wants(stream) and (viewer is None or viewer.ended.is_set()):
                self._start_viewing(stream.stream_id, stream.stream_type, stream.endpoint_id)
                started.append(stream.stream_id)
        tasks = [self._view_tasks[s] for s in started if s in self._view_tasks]
        if tasks:
            await asyncio.wait(tasks)
        return [self.viewers[s] for s in started if s in self.viewers]

    async def publish(
        self,
        stream_type: ConferenceStreamType | str,
        tracks: Mapping[str, MediaStreamTrack],
        *,
        metadata: Mapping[str, Any] | None = None,
        video_bitrate: int | None = None,
        stream_id: str | None = None,
    ) -> Publisher:
        """Publish `tracks` (kind -> track, as the stream type needs) as one stream; returns
        once the peer connection is connected. The tracks stay the caller's."""
        endpoint_id, conference_id = self._require_conference()
        publisher = Publisher(
            self.api,
            conference_id,
            endpoint_id,
            ConferenceStreamType(stream_type),
            tracks,
            self._ice_servers,
            self.timeline,
            self.retry,
            metadata=metadata,
            video_bitrate=video_bitrate,
            video_codecs=self.video_codecs,
            gather_timeout=self.gather_timeout,
            network=self.network,
            stream_id=stream_id,
        )
        self.publishers.append(publisher)
        try:
            await publisher.start()
        except BaseException:
            with contextlib.suppress(ValueError):
                self.publishers.remove(publisher)
            raise
        spec = (publisher.stream_type, dict(tracks), publisher.metadata, video_bitrate)
        self._intended.append((publisher, spec))
        return publisher

    def current(self, publisher: Publisher) -> Publisher:
        """The publisher sending `publisher`'s tracks now: itself, or the one a resume or a
        heal published them again with (under a new stream id)."""
        while publisher in self._successors:
            publisher = self._successors[publisher]
        return publisher

    async def unpublish(self, publisher: Publisher) -> None:
        """Stop publishing one stream (its peer connection closes, the platform unpublishes)."""
        with self.timeline.step("unpublish", stream_id=publisher.stream_id):
            await publisher.stop()
        with contextlib.suppress(ValueError):
            self.publishers.remove(publisher)
        self._intended = [(p, spec) for p, spec in self._intended if p is not publisher]

    async def view(
        self,
        stream_id: str,
        stream_type: ConferenceStreamType | str | None = None,
        publisher_endpoint_id: str | None = None,
    ) -> Viewer:
        """View one stream now, whatever the policy says; returns once media can flow."""
        self._require_conference()
        self._start_viewing(stream_id, stream_type, publisher_endpoint_id)
        task = self._view_tasks.get(stream_id)
        if task is not None:
            await asyncio.shield(task)
        viewer = self.viewers[stream_id]
        if viewer.ended.is_set():
            raise ConnectionError(f"viewing stream {stream_id} failed: {viewer.last_error}")
        return viewer

    async def stop_viewing(self, stream_id: str) -> None:
        task = self._view_tasks.pop(stream_id, None)
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
        viewer = self.viewers.pop(stream_id, None)
        if viewer is not None:
            if self.view_watcher is not None:
                with contextlib.suppress(Exception):
                    await self.view_watcher.view_ending(viewer)
            with self.timeline.step("stop-view", stream_id=stream_id):
                await viewer.stop()

    async def leave(self, reason: str | None = None) -> None:
        """Close the peer connections, unpublish own streams, stop viewing the others (404:
        already gone), then leave. Local cleanup always completes. Not in a conference (never
        joined, or the platform ended it or removed this endpoint): nothing to do."""
        if self.conference_id is None:
            return
        endpoint_id, conference_id = self._require_conference()
        self._leaving = True
        self.home_conference = None
        self._intended = []
        try:
            with self.timeline.step("leave", conference_id=conference_id):
                await self._close_streams(SupervisedStream.stop)
                await _unless_gone(
                    self.api.conferences.leave(
                        LeaveConferenceWebCommand(
                            conference_id=conference_id,
                            user_endpoint_id=endpoint_id,
                            reason=reason,
                        )
                    )
                )
        finally:
            self._forget_conference(conference_id)

    async def _close_streams(
        self, how: Callable[[SupervisedStream], Awaitable[None]], *, told: bool = False
    ) -> None:
        """Stop (or drop) every stream of the conference, all at once. `told`: the view
        watcher hears each view end (a drop: a leave's caller ends its records itself)."""
        tasks = list(self._view_tasks.values())
        self._view_tasks.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        if told and self.view_watcher is not None:
            for viewer in list(self.viewers.values()):
                with contextlib.suppress(Exception):  # a last reading, bounded: not worth a hang
                    async with asyncio.timeout(VIEW_ENDING_TIMEOUT):
                        await self.view_watcher.view_ending(viewer)
        streams: list[SupervisedStream] = [*self.publishers, *self.viewers.values()]
        self.publishers = []
        self.viewers = {}
        self.streams = {}
        await asyncio.gather(*(how(stream) for stream in streams), return_exceptions=True)

    def _forget_conference(self, conference_id: str) -> None:
        if self.channel is not None:
            self.channel.ordering.forget(conference_id)
        if self.conference_id == conference_id:
            self.conference_id = None

    # --- events ------------------------------------------------------------------------------

    async def _handle_events(self) -> None:
        while True:
            event = await self._events.get()
            try:
                await self._apply(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: handling %s failed", self.name, event.type)

    async def _apply(self, event: Event) -> None:
        if not isinstance(event, ConferenceEvent) or event.conference_id != self.conference_id:
            return
        own = event.user_endpoint_id == self.endpoint_id
        if isinstance(event, ConferenceStreamPublishedEvent) and not own:
            kind = str(event.stream_type) if event.stream_type is not None else None
            self._published(RemoteStream(event.stream_id, kind, event.user_endpoint_id))
        elif isinstance(event, ConferenceStreamUnpublishedEvent) and not own:
            self.streams.pop(event.stream_id, None)
            if event.stream_id in self.viewers or event.stream_id in self._view_tasks:
                await self.stop_viewing(event.stream_id)
        elif isinstance(event, ConferenceEndedEvent) or (
            isinstance(event, ConferenceLeftEvent) and own and not self._leaving
        ):
            if not await self._platform_removed_us(event.conference_id):
                # A client's forgery (sendEvent) on a platform that does not mark those.
                self.timeline.note("ignored", event=event.type, why="the platform still lists us")
                return
            # The platform already closed every stream: close ours without asking it again.
            if isinstance(event, ConferenceEndedEvent):
                self.home_conference = None  # nothing to rejoin on a resume
                self._intended = []
            self.timeline.note("removed", reason=getattr(event, "reason", None), event=event.type)
            await self._close_streams(SupervisedStream.drop, told=True)
            self._forget_conference(event.conference_id)

    async def _platform_removed_us(self, conference_id: str) -> bool:
        """Whether the platform confirms that this endpoint is out of the conference: an event
        on the channel alone is not proof (issue 13: a customer sent one through sendEvent)."""
        try:
            view = await self.api.conferences.simple_view(conference_id)
        except ApiError as exc:
            return exc.status in (403, 404)  # ended, or no longer ours to see
        return not any(
            endpoint.id == self.endpoint_id
            for participant in view.participants or []
            for endpoint in participant.endpoints or []
        )

    def _start_viewing(
        self,
        stream_id: str,
        stream_type: ConferenceStreamType | str | None,
        publisher_endpoint_id: str | None,
    ) -> None:
        existing = self.viewers.get(stream_id)
        if existing is not None and not existing.ended.is_set():
            return  # already viewed (an ended viewer is replaced: viewing again is a retry)
        endpoint_id, conference_id = self._require_conference()
        viewer = Viewer(
            self.api,
            conference_id,
            endpoint_id,
            stream_id,
            stream_type,
            self._ice_servers,
            self.timeline,
            self.retry,
            self.view_policy,
            publisher_endpoint_id=publisher_endpoint_id,
            gather_timeout=self.gather_timeout,
            network=self.network,
        )
        self.viewers[stream_id] = viewer
        watcher = self.view_watcher
        if watcher is not None:
            watcher.view_starting(viewer)

        async def start() -> None:
            try:
                await viewer.start()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%s: viewing stream %s failed: %s", self.name, stream_id, exc)
                if watcher is not None:
                    watcher.view_started(viewer, exc)
            else:
                if watcher is not None:
                    watcher.view_started(viewer, None)
            finally:
                if self._view_tasks.get(stream_id) is asyncio.current_task():
                    del self._view_tasks[stream_id]

        self._view_tasks[stream_id] = asyncio.get_running_loop().create_task(
            start(), name=f"view-{stream_id}"
        )

    # --- state and measurements --------------------------------------------------------------

    def peer_connection_count(self) -> int:
        """Open peer connections this participant holds."""
        streams: list[SupervisedStream] = [*self.publishers, *self.viewers.values()]
        return sum(stream.peer_connections for stream in streams)

    async def measurements(self) -> ParticipantMeasurements:
        """Media figures of every stream now; bitrates cover the time since the last call."""
        return ParticipantMeasurements(
            name=self.name,
            endpoint_id=self.endpoint_id,
            conference_id=self.conference_id,
            publishers=[await p.measurements() for p in self.publishers],
            viewers=[await v.measurements() for v in self.viewers.values()],
        )


async def _unless_gone(call: Awaitable[None]) -> None:
    """Await a platform call for which 403/404/409/410 means "already done"."""
    try:
        await call
    except ApiError as exc:
        if not is_gone(exc):
            raise


async def _collect(errors: list[BaseException], step: Awaitable[None]) -> None:
    """Run one cleanup step; keep its error for later so the next steps still run."""
    try:
        await step
    except Exception as exc:
        errors.append(exc)
        log.warning("cleanup step failed: %s", exc)
