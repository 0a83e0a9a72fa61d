"""A scenario run publishes through the participant core's `MediaSources`: the streams of one
profile share one encoder (and one packetizer), yet each participant still measures the delay
from the timecode, a snapshot of one of them is a frame it really sent, and a camera switch
changes only what that participant sends. Real peer connections through the local platform
on loopback; nothing mocked."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agent.scenario.checks import check_scenario
from agent.scenario.expect import evaluate
from agent.scenario.loader import ScenarioError
from agent.scenario.results import StreamDirection
from agent.scenario.runner import ScenarioRun
from media.camera import CameraState, SwitchableCamera
from server.embedded import EmbeddedServer
from tests.test_scenario_run import LIVENESS, assert_nothing_left, options, write
from tests.waiting import wait_until

pytestmark = pytest.mark.serial  # one encoder per profile: a starved CPU makes it rebuild

CALL = """
      - do: register
      - do: join
      - do: publish
      - do: wait_for
        condition: receiving_every_publisher
        timeout: 60s
      - do: sleep
        duration: 3s
      - do: leave
      - do: unregister
"""
SHARED = f"""
name: shared-encoders
timeout: 90s
participants:
  - name: phone
    count: 3
    publish:
      - {{type: MIC_AND_CAM, resolution: 320x180, fps: 15, bitrate: 300k}}
    receive: {{video: decode}}
    timeline:{CALL}
  - name: desk
    publish:
      - {{type: MIC_AND_CAM, resolution: 320x180, fps: 15, bitrate: 300k, encoder: own}}
    timeline:{CALL}
expect:
  warmup: 2s
  conditions: [every_viewer_received_every_publisher, no_errors]
"""


@pytest.mark.slow
async def test_participants_of_one_profile_share_one_encoder(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    run = ScenarioRun(write(tmp_path, SHARED), options(server))
    task = asyncio.get_running_loop().create_task(run.execute())
    await wait_until(
        lambda: len(run.agents) == 4 and all(len(a.views) == 3 for a in run.agents),
        "everyone views the three others",
        within=60,
    )
    # Three phones, one profile: one video encoder (built once) and one Opus encoder feed
    # all three; the desk's `encoder: own` stream encodes on its own (aiortc's encoder).
    (video,) = run.media.video_encoders
    (audio,) = run.media.audio_encoders
    assert video.subscribers == 3 and video.encoder_constructions == 1
    assert audio.subscribers == 3
    assert run.media.own_encoders == 2  # the desk's audio and video
    phones = [a for a in run.agents if a.group.name == "phone"]
    assert all(p.published["mic_and_cam"].media.shared("video") for p in phones)
    await wait_until(lambda: video.frames_encoded >= 30, "the shared encoder runs")
    result = await asyncio.wait_for(task, 90)

    verdict = evaluate(run.scenario, result)
    assert verdict.passed, [e for e in verdict.expectations if not e.passed]
    # The shared picture keeps its timecode: a decoding viewer measures the end-to-end delay
    # of a shared stream as of an own one, and sees the shared stream's frame rate.
    phone = next(p for p in result.participants if p.group == "phone")
    views = {s.publisher: s for s in phone.streams if s.direction is StreamDirection.VIEW}
    assert len(views) == 3 and "desk-0" in views
    for view in views.values():
        assert view.delay and all(0 <= d.value < 5.0 for d in view.delay), view.publisher
        assert max(s.value for s in view.fps) > 10, view.publisher
    await assert_nothing_left(server, run)


SNAPSHOT = """
name: snapshot-of-a-shared-camera
duration: 120s
participants:
  - name: phone
    count: 2
    publish:
      - {type: CAM, resolution: 320x180, fps: 15, bitrate: 300k}
  - name: agent
    publish: []
    timeline:
      - do: register
      - do: join
      - do: view
      - do: wait_for
        condition: receiving_every_publisher
        timeout: 60s
      - do: request_snapshot
        target: phone
        index: 0
      - do: camera_request
        target: phone
        index: 0
        id: switched
      - do: sleep
        duration: 120s
"""


@pytest.mark.slow
async def test_a_snapshot_of_a_shared_camera_is_the_frame_sent_and_a_switch_is_its_own(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    run = ScenarioRun(write(tmp_path, SNAPSHOT), options(server))
    task = asyncio.get_running_loop().create_task(run.execute())
    await wait_until(
        lambda: any(a.group.name == "agent" and "switched" in a.record.done for a in run.agents),
        "the agent asked for a snapshot and a camera switch",
        within=90,
    )
    agent = next(a for a in run.agents if a.group.name == "agent")
    first, second = (next(a for a in run.agents if a.name == f"phone-{i}") for i in (0, 1))
    assert not agent.result.errors, agent.result.errors

    # The snapshot is a frame phone-0 handed to its sender (read back from the image's
    # timecode), though its sender only forwarded the shared encoder's packets.
    (snapshot,) = agent.undecided
    assert snapshot.verified and snapshot.code is not None, snapshot.problem
    assert snapshot.camera == CameraState(0, False)
    assert first.snapshot_target is not None
    sent_by_both_then = run.media.video_encoders[0]
    assert sent_by_both_then.encoder_constructions == 1

    # The switch shows on phone-0's own camera only: phone-1 still sends the shared one.
    media = first.published["cam"].media
    assert not media.shared("video") and second.published["cam"].media.shared("video")
    tap = first.snapshot_target.tap
    assert tap is not None and tap is media.tap and isinstance(tap.source, SwitchableCamera)
    assert tap.source.state == CameraState(1, False)
    shared_camera = second.published["cam"].media.tap
    assert shared_camera is not None and isinstance(shared_camera.source, SwitchableCamera)
    assert shared_camera.source.state == CameraState(0, False)
    assert shared_camera.sent_at(snapshot.code) is not None  # the frame phone-0 sent then
    assert sent_by_both_then.subscribers == 1 and run.media.own_encoders == 1

    # phone-0's viewers go on receiving it after the switch (its sender took its own track).
    view = agent.views[first.publishing()[0]]
    before = view.viewer.frames("video")
    await wait_until(lambda: view.viewer.frames("video") >= before + 15, "frames after it")
    task.cancel()
    result = await asyncio.wait_for(task, LIVENESS)
    (round_trip,) = next(p for p in result.participants if p.name == agent.name).snapshots
    assert round_trip.succeeded and round_trip.target == "phone-0"
    await assert_nothing_left(server, run)


def test_a_delay_expectation_makes_viewers_sample_unless_the_group_says_otherwise(
    tmp_path: Path,
) -> None:
    text = """
name: delay
duration: 5s
participants:
  - name: a
    publish: [{type: CAM}]
  - name: b
    receive: {video: light}
expect:
  delay: {p95: "< 1s"}
"""
    scenario = write(tmp_path, text)
    first, second = scenario.participants
    # Left out: light, but sampled keyframes when the delay is to be measured; said: as said.
    assert scenario.receive(first).video == "sampled" and first.receive.video == "light"
    assert scenario.receive(second).video == "light"
    assert check_scenario(scenario, tmp_path) == []
    fps = text.replace('delay: {p95: "< 1s"}', 'video_fps: {p50: "> 28"}')
    alone = write(tmp_path, fps)
    assert alone.receive(alone.participants[0]).video == "light"
    with pytest.raises(ScenarioError, match="every group receives `light`"):
        write(tmp_path, text.replace("publish: [{type: CAM}]", "receive: {video: light}"))


def test_an_audio_quality_expectation_makes_viewers_decode_audio(tmp_path: Path) -> None:
    text = """
name: mos
duration: 5s
participants:
  - name: a
    publish: [{type: MIC}]
  - name: b
    receive: {audio: light}
expect:
  audio_mos: {p50: "> 3.5"}
"""
    scenario = write(tmp_path, text)
    first, second = scenario.participants
    assert scenario.receive(first).audio == "decode" and first.receive.audio == "light"
    assert scenario.receive(first).video == "light"  # no delay expected: video stays light
    assert scenario.receive(second).audio == "light"
    with pytest.raises(ScenarioError, match="audio_mos is measured on decoded audio"):
        write(tmp_path, text.replace("publish: [{type: MIC}]", "receive: {audio: light}"))
