"""Snapshots and camera requests end to end: agents on both sides through the embedded
platform (REST, MQTT event channel, aiortc through the media router on loopback).

The target publishes a `SwitchableCamera` through a `FrameTap` and answers with a
`SnapshotTarget`; the requester uses a `SnapshotRequester`, and sees camera changes through a
`CameraWatcher` on the frames it decodes. Figures are printed (`pytest -s`) for the report.
"""

from __future__ import annotations

import asyncio
import json

import av

from agent.api.models.snapshots import CameraRequestType, SnapshotState
from agent.participant import Participant, Reception, ViewPolicy
from agent.snapshot import (
    CameraWatcher,
    FrameTap,
    ImageFormat,
    ResponseAction,
    ResponsePolicy,
    SnapshotRequester,
    SnapshotTarget,
)
from media.camera import CameraState, SwitchableCamera, read_state, scene_luma
from media.video import StillImageTrack
from server.embedded import EmbeddedServer
from tests.participant_support import CAM, Call, credentials
from tests.waiting import LIVENESS, wait_until


async def _publishing_target(
    call: Call,
    source: SwitchableCamera,
    snapshot: ResponsePolicy | None = None,
    camera: ResponsePolicy | None = None,
) -> tuple[Participant, FrameTap, SnapshotTarget]:
    """agent2 publishes `source` (tapped) and answers requests."""
    target = await call.participant("agent2")
    tap = FrameTap(source)
    call.stack.callback(tap.stop)
    await target.publish(CAM, {"video": tap})
    answering = SnapshotTarget(target, tap, snapshot=snapshot, camera=camera)
    await call.stack.enter_async_context(answering)
    await wait_until(lambda: len(tap.sent) >= 5, "the target sends frames")
    return target, tap, answering


def _report(what: str, figures: object) -> None:
    print(f"\n{what}: {json.dumps(figures, default=str)}")


async def test_snapshot_of_the_sent_frame_is_fetched_verified_and_approved(call: Call) -> None:
    camera = SwitchableCamera.synthetic(width=320, height=180, fps=15)
    target, tap, answering = await _publishing_target(call, camera)
    requester_participant = await call.participant(
        "agent1", view_policy=ViewPolicy(auto_view=False)
    )
    requester = SnapshotRequester(requester_participant)

    jpeg = await requester.request(target, within=LIVENESS)
    assert jpeg.acquired and jpeg.verified, jpeg.problem
    assert jpeg.mime_type == "image/jpeg" and jpeg.size == (320, 180)
    assert jpeg.camera == CameraState(0, False)
    # The picture is a frame the target really handed to its sender, within a second of
    # the request and before the snapshot was acquired: not a new rendering.
    assert jpeg.code is not None and jpeg.round_trip_s is not None
    handed_at = tap.sent_at(jpeg.code)
    assert handed_at is not None
    assert jpeg.requested_at - 1.0 <= handed_at <= jpeg.requested_at + jpeg.round_trip_s
    assert answering.acquired == [jpeg.snapshot_id]

    await requester.approve(jpeg)
    # The target hears of the decision on its picture, as the platform's phone SDK does.
    await wait_until(lambda: jpeg.snapshot_id in answering.decisions, "the target told")
    assert answering.decisions[jpeg.snapshot_id] == "approved"
    stored = await requester_participant.api.snapshots.get(jpeg.snapshot_id)
    assert stored.state == SnapshotState.APPROVED and stored.approved is True
    assert stored.mime_type == "image/jpeg" and stored.user_endpoint_id == target.endpoint_id
    assert stored.session_id == call.conference_id

    png = await requester.request(target, snapshot_type="PNG", within=LIVENESS)
    assert png.verified, png.problem
    assert png.mime_type == "image/png" and png.image is not None
    assert png.image.startswith(b"\x89PNG")
    assert png.code is not None and png.code[0] >= jpeg.code[0]  # never an older frame
    await requester.discard(png)
    discarded = await requester_participant.api.snapshots.get(png.snapshot_id)
    assert discarded.state == SnapshotState.DISCARDED
    await wait_until(lambda: png.snapshot_id in answering.decisions, "the target told")
    assert answering.decisions[png.snapshot_id] == "discarded"

    figures = requester.measurements()
    assert figures["snapshots_verified"] == 2
    assert figures["snapshot_round_trip_s"]["count"] == 2
    _report("snapshot round trip (s)", figures["snapshot_round_trip_s"])
    steps = [r.step for r in requester_participant.timeline.records]
    assert steps.count("snapshot-request") == 2 and "snapshot-approve" in steps
    answers = target.timeline.find("snapshot-answer")
    assert [a.details["format"] for a in answers] == ["jpeg", "png"]
    assert all(a.ok for a in answers)


async def test_camera_switch_and_torch_are_seen_by_a_viewer(call: Call) -> None:
    watcher = CameraWatcher()
    brightness: dict[CameraState, list[float]] = {}

    def on_frame(frame: av.VideoFrame, received_at: float) -> None:
        watcher(frame, received_at)
        state = read_state(frame)
        if state is not None:
            brightness.setdefault(state, []).append(scene_luma(frame))

    camera = SwitchableCamera.synthetic(width=640, height=360, fps=15)
    target, _, answering = await _publishing_target(call, camera)
    viewer = await call.participant(
        "agent1", view_policy=ViewPolicy(video=Reception.DECODE, on_video_frame=on_frame)
    )
    requester = SnapshotRequester(viewer)
    await wait_until(lambda: watcher.state == CameraState(0, False), "the viewer reads camera 0")

    steps = [
        (CameraRequestType.CAMERA_SWITCH, CameraState(1, False)),
        (CameraRequestType.FLASH_ON, CameraState(1, True)),
        (CameraRequestType.FLASH_OFF, CameraState(1, False)),
        (CameraRequestType.CAMERA_SWITCH, CameraState(0, False)),
    ]
    for kind, expected in steps:
        result = await requester.camera_request(target, kind, within=LIVENESS, watcher=watcher)
        assert result.succeeded is True, (kind, result.additional_information)
        assert result.seen_state == expected, kind
        assert result.viewer_seen_s is not None and result.round_trip_s is not None
        assert camera.state == expected
    assert [s.state for s in watcher.changes] == [CameraState(0, False)] + [e for _, e in steps]
    assert all(answering.camera_answers.values()) and len(answering.camera_answers) == 4

    # The torch is visible, not only a bit: the viewer's picture is brighter while it is on.
    lit, dark = brightness[CameraState(1, True)], brightness[CameraState(1, False)]
    assert min(lit) - max(dark) > 20
    figures = requester.measurements()
    assert figures["camera_requests_succeeded"] == 4
    _report("camera request round trip (s)", figures["camera_round_trip_s"])
    _report("camera change seen by the viewer (s)", figures["camera_seen_by_viewer_s"])
    assert watcher.unreadable <= watcher.frames_read // 5


async def test_requests_the_camera_cannot_carry_out_are_answered_not_succeeded(
    server: EmbeddedServer,
) -> None:
    async with (
        Participant(server.base_url, credentials("agent2"), name="kiosk") as kiosk,
        Participant(server.base_url, credentials("agent1"), name="agent") as agent,
    ):
        fixed = FrameTap(SwitchableCamera.synthetic(cameras=1, torch=False, width=320, height=180))
        requester = SnapshotRequester(agent)
        async with SnapshotTarget(kiosk, fixed) as answering:
            refused = {
                kind: await requester.camera_request(kiosk, kind, within=LIVENESS)
                for kind in ("CAMERA_SWITCH", "FLASH_ON", "FLASH_OFF", "ZOOM_IN")
            }
        async with SnapshotTarget(kiosk, None):  # a participant without a camera stream
            no_camera = await requester.camera_request(kiosk, "FLASH_ON", within=LIVENESS)
    for result in refused.values():
        assert result.succeeded is False and result.round_trip_s is not None
    reasons = {kind: r.additional_information for kind, r in refused.items()}
    assert reasons == {
        "CAMERA_SWITCH": "this source has only one camera",
        "FLASH_ON": "this source has no torch",
        "FLASH_OFF": "this source has no torch",
        "ZOOM_IN": "unsupported camera request ZOOM_IN",
    }
    assert answering.camera_answers == {r.request_id: False for r in refused.values()}
    assert no_camera.succeeded is False
    assert no_camera.additional_information == "this participant's camera cannot be controlled"


async def test_response_policies_delay_ignore_and_fail(call: Call) -> None:
    camera = SwitchableCamera.synthetic(width=320, height=180, fps=15)
    target, _, answering = await _publishing_target(
        call,
        camera,
        snapshot=ResponsePolicy(ResponseAction.DELAY, 1.0),
        camera=ResponsePolicy(ResponseAction.DELAY, 1.0),
    )
    agent = await call.participant("agent1", view_policy=ViewPolicy(auto_view=False))
    requester = SnapshotRequester(agent)

    delayed = await requester.request(target, within=LIVENESS)
    # A delayed answer is still the frame sent at answer time, a second after the request.
    assert delayed.verified, delayed.problem
    assert delayed.round_trip_s is not None and delayed.round_trip_s >= 1.0
    assert delayed.capture_offset_ms is not None and delayed.capture_offset_ms >= 900
    switched = await requester.camera_request(target, "CAMERA_SWITCH", within=LIVENESS)
    assert switched.succeeded is True
    assert switched.round_trip_s is not None and switched.round_trip_s >= 1.0

    answering.snapshot_policy = ResponsePolicy(ResponseAction.IGNORE)
    answering.camera_policy = ResponsePolicy(ResponseAction.IGNORE)
    ignored = await requester.request(target, within=2.0)
    assert not ignored.acquired and ignored.problem == "not acquired within 2 s"
    unanswered = await requester.camera_request(target, "FLASH_ON", within=2.0)
    assert unanswered.succeeded is None and unanswered.round_trip_s is None
    assert camera.state == CameraState(1, False)

    answering.snapshot_policy = ResponsePolicy(ResponseAction.FAIL)
    answering.camera_policy = ResponsePolicy(ResponseAction.FAIL)
    failed = await requester.request(target, within=2.0)
    assert not failed.acquired
    broken = await requester.camera_request(target, "FLASH_ON", within=LIVENESS)
    assert broken.succeeded is False
    assert broken.additional_information == "the camera failed (policy fail)"
    assert camera.state == CameraState(1, False)

    assert answering.acquired == [delayed.snapshot_id]
    notes = [(r.details.get("action"), r.ok) for r in target.timeline.find("snapshot-answer")]
    assert notes == [("delay", True), ("ignore", True), ("fail", False)]
    stored = await agent.api.snapshots.get(ignored.snapshot_id)
    assert stored.state is None  # still waiting for the target, as far as the platform knows
    figures = requester.measurements()
    assert figures["snapshots_requested"] == 3 and figures["snapshots_acquired"] == 1


async def test_a_stale_or_uncoded_picture_is_not_verified(server: EmbeddedServer) -> None:
    """The requester's check can fail: a camera that stopped sending a second and a half ago
    (its last frame is stale), and a picture without a timecode. No media connection is
    needed for that: the tap is read here, as the sender would."""
    async with (
        Participant(server.base_url, credentials("agent2"), name="stuck") as stuck,
        Participant(server.base_url, credentials("agent1"), name="agent") as agent,
    ):
        requester = SnapshotRequester(agent)
        tap = FrameTap(SwitchableCamera.synthetic(width=320, height=180, fps=15))
        await tap.recv()
        await asyncio.sleep(1.5)
        async with SnapshotTarget(stuck, tap):
            stale = await requester.request(stuck, within=LIVENESS)
        assert stale.acquired and stale.code is not None and not stale.verified
        assert stale.capture_offset_ms is not None and stale.capture_offset_ms < -1000
        assert stale.problem is not None and "outside" in stale.problem

        plain = FrameTap(StillImageTrack.black(320, 180))
        await plain.recv()
        async with SnapshotTarget(stuck, plain, image_format=ImageFormat.PNG):
            uncoded = await requester.request(stuck, within=LIVENESS)
        assert uncoded.acquired and uncoded.mime_type == "image/png"
        assert not uncoded.verified and uncoded.code is None
        assert uncoded.problem == "the image carries no readable timecode"
        figures = requester.measurements()
        assert figures["snapshots_acquired"] == 2 and figures["snapshots_verified"] == 0
