"""The agent as the requester of snapshots and camera requests, one call per scenario step.

    requester = SnapshotRequester(participant)           # subscribes to its event channel
    result = await requester.request(target)             # request -> acquired -> fetched
    if result.verified:                                   # decodes, timecode fresh
        await requester.approve(result)
    switched = await requester.camera_request(target, CameraRequestType.CAMERA_SWITCH,
                                              watcher=watcher)   # + when a viewer saw it

A snapshot is verified when its image decodes and the timecode in it was sent between
`max_age` seconds before the request and the moment it was acquired: the target must have
sent that frame (its clock is the send time) within the last second, not rendered a new one
later or kept an old one. Both sides read the same wall clock on one host; across hosts
the bound includes their clock offset.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import av

from agent.api.errors import ApiError
from agent.api.models.common import SessionType
from agent.api.models.events import (
    Event,
    SnapshotAcquiredEvent,
    SnapshotCameraRequestProcessedEvent,
)
from agent.api.models.snapshots import (
    CameraRequestType,
    CreateSnapshotSignedURLWebCommand,
    SnapshotApproveWebCommand,
    SnapshotCameraRequestWebCommand,
    SnapshotDiscardWebCommand,
    SnapshotRequestWebCommand,
)
from agent.participant.records import describe
from agent.snapshot.target import TargetParticipant
from agent.snapshot.watch import CameraWatcher
from media import timecode
from media.analysis import Series
from media.camera import CameraState, read_state

__all__ = [
    "CameraRequestResult",
    "Endpoint",
    "EndpointRef",
    "SnapshotRequester",
    "SnapshotResult",
]

DEFAULT_TIMEOUT = 30.0
MAX_AGE = 1.0
EARLY_EVENTS = 256
"""Outcome events kept for requests whose id the requester has not learnt yet."""


class EndpointRef(Protocol):
    """A target: a participant, or anything naming a user and one of its endpoints."""

    @property
    def user_id(self) -> str | None: ...

    @property
    def endpoint_id(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A target known only by its ids (a participant in another process)."""

    user_id: str | None
    endpoint_id: str | None


@dataclass(slots=True)
class SnapshotResult:
    snapshot_id: str
    target_endpoint_id: str
    snapshot_type: str
    requested_at: float
    """`time.time()` just before the request was sent."""
    round_trip_s: float | None = None
    """Request sent to SnapshotAcquiredEvent received; None when it never came."""
    location: str | None = None
    mime_type: str | None = None
    size: tuple[int, int] | None = None
    image_bytes: int = 0
    code: tuple[int, int] | None = None
    """(sequence, send time in ms) read from the image's timecode."""
    capture_offset_ms: float | None = None
    """Send time of the pictured frame minus the request time (negative: sent before it)."""
    camera: CameraState | None = None
    verified: bool = False
    problem: str | None = None
    """Why it is not verified (not acquired in time, does not decode, no timecode...)."""
    decision: str | None = None
    image: bytes | None = field(default=None, repr=False)

    @property
    def acquired(self) -> bool:
        return self.round_trip_s is not None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("image")
        return out


@dataclass(slots=True)
class CameraRequestResult:
    request_id: str
    request_type: str
    target_endpoint_id: str
    requested_at: float
    round_trip_s: float | None = None
    """Request sent to SnapshotCameraRequestProcessedEvent received; None when it never came."""
    succeeded: bool | None = None
    additional_information: str | None = None
    viewer_seen_s: float | None = None
    """Request sent to the first received frame showing the change (with a watcher)."""
    seen_state: CameraState | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SnapshotRequester:
    """Sends snapshot and camera requests as `participant` and waits for their outcome."""

    def __init__(
        self,
        participant: TargetParticipant,
        *,
        application_id: str = "auvious-agent",
        referer: str = "http://localhost/auvious-agent",
        interaction_id: str | None = None,
    ) -> None:
        if participant.channel is None or participant.endpoint_id is None:
            raise RuntimeError("the participant is not started: no endpoint, no event channel")
        self.participant = participant
        self.application_id = application_id
        self.referer = referer
        self.interaction_id = interaction_id
        self.snapshots: list[SnapshotResult] = []
        self.camera_requests: list[CameraRequestResult] = []
        self._outcomes: dict[str, tuple[float, Event]] = {}
        self._waiters: dict[str, asyncio.Future[tuple[float, Event]]] = {}
        self._unsubscribe = participant.subscribe(self._on_event)

    def close(self) -> None:
        self._unsubscribe()

    # --- events --------------------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if isinstance(event, SnapshotAcquiredEvent):
            key = event.snapshot_id
        elif isinstance(event, SnapshotCameraRequestProcessedEvent):
            key = event.snapshot_camera_request_id
        else:
            return
        outcome = (time.time(), event)
        waiter = self._waiters.pop(key, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(outcome)
            return
        # The event can beat the HTTP answer that tells us the id: keep it for a while.
        self._outcomes[key] = outcome
        while len(self._outcomes) > EARLY_EVENTS:
            del self._outcomes[next(iter(self._outcomes))]

    async def _outcome(self, key: str, within: float) -> tuple[float, Event] | None:
        early = self._outcomes.pop(key, None)
        if early is not None:
            return early
        waiter = self._waiters[key] = asyncio.get_running_loop().create_future()
        try:
            return await asyncio.wait_for(waiter, within)
        except TimeoutError:
            return None
        finally:
            self._waiters.pop(key, None)

    def _ids(self) -> tuple[str, str | None]:
        endpoint_id = self.participant.endpoint_id
        if endpoint_id is None:
            raise RuntimeError("the participant has no endpoint (closed?)")
        return endpoint_id, getattr(self.participant, "conference_id", None)

    # --- snapshots -----------------------------------------------------------------------

    async def request(
        self,
        target: EndpointRef,
        *,
        snapshot_type: str = "CAM",
        within: float = DEFAULT_TIMEOUT,
        max_age: float = MAX_AGE,
    ) -> SnapshotResult:
        """Request a snapshot of `target`, wait for it, fetch it by signed URL and verify it.

        A snapshot that is not acquired `within` seconds is a result with `acquired` False,
        not an error: an unanswered request is an outcome a scenario counts."""
        endpoint_id, conference_id = self._ids()
        target_user, target_endpoint = _target_ids(target)
        requested_at = time.time()
        answer = await self.participant.api.snapshots.request(
            SnapshotRequestWebCommand(
                application_id=self.application_id,
                user_endpoint_id=endpoint_id,
                target_user_id=target_user,
                target_user_endpoint_id=target_endpoint,
                session_type=SessionType.CONFERENCE if conference_id else None,
                session_id=conference_id,
                interaction_id=self.interaction_id,
                snapshot_type=snapshot_type,
            )
        )
        if not answer.snapshot_id:
            raise ValueError("requestSnapshot answered without a snapshotId")
        result = SnapshotResult(answer.snapshot_id, target_endpoint, snapshot_type, requested_at)
        self.snapshots.append(result)
        with self.participant.timeline.step(
            "snapshot-request", snapshot_id=result.snapshot_id, target=target_endpoint
        ) as record:
            outcome = await self._outcome(result.snapshot_id, within)
            if outcome is None:
                result.problem = f"not acquired within {within:g} s"
            else:
                received_at, event = outcome
                assert isinstance(event, SnapshotAcquiredEvent)
                result.round_trip_s = received_at - requested_at
                result.location = event.snapshot_location
                await self._fetch_and_verify(result, received_at, max_age)
            record.ok = result.verified
            record.error = result.problem
            record.details.update(
                round_trip_s=result.round_trip_s, capture_offset_ms=result.capture_offset_ms
            )
        return result

    async def _fetch_and_verify(
        self, result: SnapshotResult, acquired_at: float, max_age: float
    ) -> None:
        api = self.participant.api
        try:
            signed = await api.snapshots.signed_url(
                CreateSnapshotSignedURLWebCommand(
                    snapshot_id=result.snapshot_id, create_internal_signed_url=True
                ),
                referer=self.referer,
            )
            if not signed.url:
                raise ValueError("createSnapshotSignedUrl answered without a url")
            result.image = await api.download(signed.url)
        except (ApiError, ValueError) as exc:
            result.problem = f"fetching the image failed: {describe(exc)}"
            return
        result.image_bytes = len(result.image)
        try:
            with av.open(io.BytesIO(result.image), mode="r") as container:
                result.mime_type = _mime_of(container.format.name)
                frame = next(container.decode(video=0))
        except (av.FFmpegError, StopIteration) as exc:
            result.problem = f"the image does not decode: {describe(exc)}"
            return
        result.size = (frame.width, frame.height)
        result.camera = read_state(frame)
        result.code = timecode.read(frame)
        if result.code is None:
            result.problem = "the image carries no readable timecode"
            return
        sent_ms = result.code[1]
        result.capture_offset_ms = sent_ms - result.requested_at * 1000
        if not result.requested_at - max_age <= sent_ms / 1000 <= acquired_at:
            result.problem = (
                f"the pictured frame was sent {result.capture_offset_ms:.0f} ms from the request,"
                f" outside [-{max_age * 1000:.0f} ms, acquired]"
            )
            return
        result.verified = True

    async def approve(self, result: SnapshotResult, snapshot_type: str | None = None) -> None:
        endpoint_id, _ = self._ids()
        with self.participant.timeline.step("snapshot-approve", snapshot_id=result.snapshot_id):
            await self.participant.api.snapshots.approve(
                SnapshotApproveWebCommand(
                    snapshot_id=result.snapshot_id,
                    user_endpoint_id=endpoint_id,
                    snapshot_type=snapshot_type,
                )
            )
        result.decision = "approved"

    async def discard(self, result: SnapshotResult) -> None:
        endpoint_id, _ = self._ids()
        with self.participant.timeline.step("snapshot-discard", snapshot_id=result.snapshot_id):
            await self.participant.api.snapshots.discard(
                SnapshotDiscardWebCommand(
                    snapshot_id=result.snapshot_id, user_endpoint_id=endpoint_id
                )
            )
        result.decision = "discarded"

    # --- camera requests -----------------------------------------------------------------

    async def camera_request(
        self,
        target: EndpointRef,
        request_type: CameraRequestType | str = CameraRequestType.CAMERA_SWITCH,
        *,
        within: float = DEFAULT_TIMEOUT,
        watcher: CameraWatcher | None = None,
    ) -> CameraRequestResult:
        """Send a camera request and wait for SnapshotCameraRequestProcessedEvent; with a
        `watcher` on this participant's view of the target, also until a received frame
        shows the change (when the target reported success)."""
        endpoint_id, conference_id = self._ids()
        target_user, target_endpoint = _target_ids(target)
        kind = str(request_type)
        before = watcher.state if watcher is not None else None
        requested_at = time.time()
        request_id = await self.participant.api.snapshots.camera_request(
            SnapshotCameraRequestWebCommand(
                user_endpoint_id=endpoint_id,
                target_user_id=target_user,
                target_user_endpoint_id=target_endpoint,
                session_type=SessionType.CONFERENCE if conference_id else None,
                session_id=conference_id,
                camera_request_type=kind,
            )
        )
        result = CameraRequestResult(request_id, kind, target_endpoint, requested_at)
        self.camera_requests.append(result)
        with self.participant.timeline.step(
            "camera-request", request_id=request_id, request=kind, target=target_endpoint
        ) as record:
            outcome = await self._outcome(request_id, within)
            if outcome is None:
                record.ok, record.error = False, f"not processed within {within:g} s"
                return result
            received_at, event = outcome
            assert isinstance(event, SnapshotCameraRequestProcessedEvent)
            result.round_trip_s = received_at - requested_at
            result.succeeded = event.succeeded
            result.additional_information = event.additional_information
            wanted = _wanted_state(kind, before)
            if wanted is not None and before is not None and wanted(before):
                wanted = None  # already so (torch off, asked off): no change to see
            if watcher is not None and event.succeeded and wanted is not None:
                left = max(0.1, within - (time.time() - requested_at))
                try:
                    seen = await watcher.wait_for(wanted, after=requested_at, within=left)
                except TimeoutError:
                    record.ok, record.error = False, f"no viewed frame showed {kind}"
                else:
                    result.viewer_seen_s = seen.received_at - requested_at
                    result.seen_state = seen.state
            record.details.update(
                succeeded=result.succeeded,
                round_trip_s=result.round_trip_s,
                viewer_seen_s=result.viewer_seen_s,
            )
        return result

    # --- measurements --------------------------------------------------------------------

    def measurements(self) -> dict[str, Any]:
        """Round trips in seconds (count, min, mean, max, percentiles) and outcome counts."""
        snapshot_rtt, camera_rtt, seen = Series(), Series(), Series()
        for snap in self.snapshots:
            if snap.round_trip_s is not None:
                snapshot_rtt.add(snap.round_trip_s)
        for req in self.camera_requests:
            if req.round_trip_s is not None:
                camera_rtt.add(req.round_trip_s)
            if req.viewer_seen_s is not None:
                seen.add(req.viewer_seen_s)
        return {
            "snapshots_requested": len(self.snapshots),
            "snapshots_acquired": sum(s.acquired for s in self.snapshots),
            "snapshots_verified": sum(s.verified for s in self.snapshots),
            "snapshot_round_trip_s": snapshot_rtt.summary(),
            "camera_requests": len(self.camera_requests),
            "camera_requests_succeeded": sum(bool(r.succeeded) for r in self.camera_requests),
            "camera_round_trip_s": camera_rtt.summary(),
            "camera_seen_by_viewer_s": seen.summary(),
        }


def _target_ids(target: EndpointRef) -> tuple[str, str]:
    if not target.user_id or not target.endpoint_id:
        raise ValueError(f"target {target!r} has no user id or endpoint id (not started?)")
    return target.user_id, target.endpoint_id


def _wanted_state(kind: str, before: CameraState | None) -> Callable[[CameraState], bool] | None:
    """What a viewed frame shows once the request took effect (None: nothing to see)."""
    if kind == CameraRequestType.FLASH_ON:
        return lambda state: state.torch
    if kind == CameraRequestType.FLASH_OFF:
        return lambda state: not state.torch
    if kind == CameraRequestType.CAMERA_SWITCH and before is not None:
        return lambda state: state.camera != before.camera
    return None


def _mime_of(container_format: str) -> str | None:
    names = container_format.split(",")
    if any("png" in name for name in names):
        return "image/png"
    if any("jpeg" in name or "mjpeg" in name for name in names):
        return "image/jpeg"
    return None
