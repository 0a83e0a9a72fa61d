"""The agent as the target of snapshot and camera requests, as a phone answers them.

A SnapshotRequestedEvent for this participant's endpoint is answered with the frame its
camera stream is sending at that moment (`FrameTap.last_frame`), encoded and acquired. A
SnapshotCameraRequestedEvent switches camera or the torch of the published `SwitchableCamera`,
waits until a frame showing the change has gone to the sender (so a viewer can see it by the
time the requester hears back), and responds. Each answer is a timed record in the
participant's timeline; the policies decide whether, when and how it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any, Protocol, Self

from aiortc.mediastreams import MediaStreamTrack

from agent.api.client import AuviousClient
from agent.api.models.events import (
    Event,
    SnapshotApprovedEvent,
    SnapshotCameraRequestedEvent,
    SnapshotDiscardedEvent,
    SnapshotRequestedEvent,
)
from agent.api.models.snapshots import (
    CameraRequestType,
    SnapshotAcquireForm,
    SnapshotCameraRequestRespondWebCommand,
)
from agent.events.channel import EventChannel
from agent.participant.records import Timeline
from agent.snapshot.policy import ResponseAction, ResponsePolicy
from media.camera import SwitchableCamera
from media.capture import FrameTap, ImageFormat, encode_image, image_format_for

__all__ = ["CameraRefused", "SnapshotTarget", "TargetParticipant"]

log = logging.getLogger(__name__)

SHOWN_TIMEOUT = 5.0
"""How long a camera change may take to reach a sent frame before the answer goes anyway."""


class TargetParticipant(Protocol):
    """What the target needs of a participant (`agent.participant.Participant` has it)."""

    name: str
    api: AuviousClient
    timeline: Timeline
    user_id: str | None
    endpoint_id: str | None
    channel: EventChannel | None

    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        """Hear every event, also after a resume replaced the event channel."""


class CameraRefused(Exception):
    """A camera request this participant cannot carry out; the text goes to the requester."""


class SnapshotTarget:
    """Answers the requests sent to `participant`'s endpoint from `tap` (the published video
    track, wrapped). Camera requests need `tap.source` to be a `SwitchableCamera`."""

    def __init__(
        self,
        participant: TargetParticipant,
        tap: FrameTap | None,
        *,
        snapshot: ResponsePolicy | None = None,
        camera: ResponsePolicy | None = None,
        image_format: ImageFormat = ImageFormat.JPEG,
        own_camera: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.participant = participant
        self.tap = tap
        self.own_camera = own_camera
        """Called before a camera request changes the picture: a camera whose frames other
        participants send too (a shared source) must become this participant's own first,
        and `tap` then the tap of that one."""
        self.snapshot_policy = snapshot or ResponsePolicy()
        self.camera_policy = camera or ResponsePolicy()
        self.image_format = image_format
        self.acquired: list[str] = []
        """Ids of the snapshots acquired, in order."""
        self.decisions: dict[str, str] = {}
        """Snapshot id -> "approved" or "discarded", as the requester decided on it."""
        self.camera_answers: dict[str, bool] = {}
        """Camera request id -> whether it was answered as succeeded."""
        self._unsubscribe: Callable[[], None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"SnapshotTarget({self.participant.name!r}, {self.snapshot_policy.action})"

    @property
    def camera(self) -> SwitchableCamera | None:
        source: MediaStreamTrack | None = self.tap.source if self.tap is not None else None
        return source if isinstance(source, SwitchableCamera) else None

    def start(self) -> None:
        """Listen on the participant's event channel (it must be started)."""
        if self.participant.channel is None or self.participant.endpoint_id is None:
            raise RuntimeError("the participant is not started: no endpoint, no event channel")
        if self._unsubscribe is None:
            self._unsubscribe = self.participant.subscribe(self._on_event)

    async def close(self) -> None:
        """Stop listening; answers under way are cancelled."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _on_event(self, event: Event) -> None:
        if isinstance(event, SnapshotRequestedEvent) and self._for_me(event):
            self._spawn(self._answer_snapshot(event), f"snapshot-{event.snapshot_id}")
        elif isinstance(event, SnapshotCameraRequestedEvent) and self._for_me(event):
            self._spawn(
                self._answer_camera(event), f"camera-request-{event.snapshot_camera_request_id}"
            )
        elif (
            isinstance(event, SnapshotApprovedEvent | SnapshotDiscardedEvent)
            and event.snapshot_id in self.acquired
        ):
            approved = isinstance(event, SnapshotApprovedEvent)
            self.decisions[event.snapshot_id] = "approved" if approved else "discarded"

    def _for_me(self, event: SnapshotRequestedEvent | SnapshotCameraRequestedEvent) -> bool:
        return event.target_user_endpoint_id == self.participant.endpoint_id

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _wait_policy(self, policy: ResponsePolicy) -> None:
        if policy.action is ResponseAction.DELAY:
            await asyncio.sleep(policy.delay)

    # --- snapshots ---------------------------------------------------------------------------

    async def _answer_snapshot(self, event: SnapshotRequestedEvent) -> None:
        timeline = self.participant.timeline
        policy = self.snapshot_policy
        if policy.action is ResponseAction.IGNORE:
            timeline.note("snapshot-answer", snapshot_id=event.snapshot_id, action="ignore")
            return
        if policy.action is ResponseAction.FAIL:
            failed = "capture failed (policy fail)"
            timeline.note(
                "snapshot-answer",
                ok=False,
                error=failed,
                snapshot_id=event.snapshot_id,
                action="fail",
            )
            return
        await self._wait_policy(policy)
        try:
            with timeline.step(
                "snapshot-answer", snapshot_id=event.snapshot_id, action=policy.action.value
            ) as record:
                image, fmt = await self._capture(event.snapshot_type)
                record.details.update(bytes=len(image), format=fmt.value)
                endpoint_id = self.participant.endpoint_id
                assert endpoint_id is not None
                await self.participant.api.snapshots.acquire(
                    SnapshotAcquireForm(
                        snapshot_id=event.snapshot_id,
                        user_endpoint_id=endpoint_id,
                        snapshot_type=event.snapshot_type or "CAM",
                        snapshot_suffix=fmt.suffix,
                        snapshot_mime_type=fmt.mime_type,
                    ),
                    image,
                )
            self.acquired.append(event.snapshot_id)
        except Exception as exc:
            log.warning(
                "%s: snapshot %s not answered: %s", self.participant.name, event.snapshot_id, exc
            )

    async def _capture(self, snapshot_type: str | None) -> tuple[bytes, ImageFormat]:
        frame = self.tap.last_frame if self.tap is not None else None
        if frame is None:
            raise RuntimeError("no frame sent yet: the camera stream is not publishing")
        fmt = image_format_for(snapshot_type, self.image_format)
        return await encode_image(frame, fmt), fmt

    # --- camera requests ---------------------------------------------------------------------

    async def _answer_camera(self, event: SnapshotCameraRequestedEvent) -> None:
        policy = self.camera_policy
        request_id = event.snapshot_camera_request_id
        kind = str(event.camera_request_type)
        if policy.action is ResponseAction.IGNORE:
            self.participant.timeline.note("camera-answer", request_id=request_id, action="ignore")
            return
        await self._wait_policy(policy)
        try:
            with self.participant.timeline.step(
                "camera-answer", request_id=request_id, request=kind, action=policy.action.value
            ) as record:
                succeeded, information = True, None
                try:
                    if policy.action is ResponseAction.FAIL:
                        raise CameraRefused("the camera failed (policy fail)")
                    await self._carry_out(kind)
                except CameraRefused as refused:
                    succeeded, information = False, str(refused)
                record.details.update(succeeded=succeeded, reason=information)
                endpoint_id = self.participant.endpoint_id
                assert endpoint_id is not None
                await self.participant.api.snapshots.camera_request_respond(
                    SnapshotCameraRequestRespondWebCommand(
                        snapshot_camera_request_id=request_id,
                        user_endpoint_id=endpoint_id,
                        succeeded=succeeded,
                        additional_information=information,
                    )
                )
            self.camera_answers[request_id] = succeeded
        except Exception as exc:
            log.warning(
                "%s: camera request %s not answered: %s", self.participant.name, request_id, exc
            )

    async def _carry_out(self, kind: str) -> None:
        """Change the camera as asked and wait until a sent frame shows it."""
        if self.own_camera is not None and self.camera is not None:
            await self.own_camera()
        camera = self.camera
        if camera is None:
            raise CameraRefused("this participant's camera cannot be controlled")
        try:
            if kind == CameraRequestType.CAMERA_SWITCH:
                camera.switch()
            elif kind == CameraRequestType.FLASH_ON:
                camera.set_torch(True)
            elif kind == CameraRequestType.FLASH_OFF:
                camera.set_torch(False)
            else:
                raise CameraRefused(f"unsupported camera request {kind}")
        except ValueError as exc:
            raise CameraRefused(str(exc)) from exc
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(camera.shown(), SHOWN_TIMEOUT)
