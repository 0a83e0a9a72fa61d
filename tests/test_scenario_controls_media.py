"""Image and file sources, and what `bitrate`, `mute` and `record` do to the media, measured
on the real local platform (REST, MQTT, aiortc through the router on loopback); the run's
`timeout`.

`bitrate` tells the platform, whose router caps the publisher by REMB, which aiortc's
encoder follows: the publisher's measured bitrate must drop. `mute` sends black frames, as a
browser's disabled track does: the bitrate collapses, frames keep coming, and the viewer
reads no timecode from them (no delay samples) until `unmute`."""

from __future__ import annotations

import time
from pathlib import Path

import av
import numpy as np

from agent.scenario.expect import evaluate
from agent.scenario.loader import load_scenario
from agent.scenario.model import Scenario
from agent.scenario.results import ParticipantResult, Sample, StreamDirection
from agent.scenario.runner import RunOptions, ScenarioRun
from media.audio import SyntheticAudioTrack
from media.mute import MutableTrack
from tests.media_support import make_clip

CONTROLS = """
name: media-controls
participants:
  - name: host
    publish: [{type: MIC_AND_CAM, resolution: 640x360, fps: 30}]
    view: none
    timeline:
      - do: register
      - do: join
      - do: publish
      - do: sleep
        duration: 5s
      - do: bitrate
        bitrate: 250k
      - do: sleep
        duration: 5s
      - do: mute
        media: video
      - do: sleep
        duration: 4s
      - do: unmute
        media: video
      - do: sleep
        duration: 3s
      - do: leave
      - do: unregister
  - name: guest
    role: customer
    record: {audio: false}
    timeline:
      - do: register
      - do: join
      - do: sleep
        duration: 18s
      - do: leave
      - do: unregister
"""


def write(tmp_path: Path, text: str) -> Scenario:
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    return load_scenario(path)


def step_time(participant: ParticipantResult, kind: str) -> float:
    (step,) = [s for s in participant.steps if s.kind == kind]
    assert step.ok, step
    return step.t + step.duration


def mean(samples: list[Sample], start: float, end: float) -> float:
    values = [s.value for s in samples if start <= s.t < end]
    assert values, f"no sample between {start:.1f}s and {end:.1f}s"
    return sum(values) / len(values)


async def test_bitrate_caps_the_publisher_mute_sends_black_and_record_keeps_the_kinds_asked(
    tmp_path: Path,
) -> None:
    scenario = write(tmp_path, CONTROLS)
    run = ScenarioRun(scenario, RunOptions(quiet=True, report_dir=tmp_path / "report"))
    result = await run.execute()
    host, guest = result.participants
    assert not host.errors and not guest.errors, host.errors + guest.errors

    (sent,) = [s for s in host.streams if s.direction is StreamDirection.PUBLISH]
    (seen,) = [s for s in guest.streams if s.direction is StreamDirection.VIEW]
    capped, muted, unmuted = (step_time(host, k) for k in ("bitrate", "mute", "unmute"))
    assert sent.started_at is not None

    # The encoder settles within a couple of seconds of each change.
    free = mean(sent.bitrate, sent.started_at + 2.0, capped)
    limited = mean(sent.bitrate, capped + 2.0, muted)
    blank = mean(sent.bitrate, muted + 1.5, unmuted)
    assert limited < 0.75 * free, (free, limited)
    assert blank < 0.4 * limited, (limited, blank)

    # Black frames keep flowing while muted; none carries a timecode, so no delay sample.
    assert mean(seen.fps, muted + 1.5, unmuted) > 5.0
    assert not [s for s in seen.delay if muted + 1.5 <= s.t < unmuted]
    assert [s for s in seen.delay if s.t >= unmuted + 1.0], "the picture came back"

    recorded = sorted(p.suffix for p in (tmp_path / "report").rglob("*") if p.is_file())
    assert recorded == [".mp4"], recorded  # record: {audio: false}
    assert run.leftover_peer_connections == 0


NEVER = """
name: waits-forever
timeout: 3s
participants:
  - name: host
    timeline:
      - do: register
      - do: join
      - do: leave
        after: ConferenceStreamPublishedEvent  # nobody publishes
      - do: unregister
"""


async def test_a_run_without_duration_fails_at_its_timeout_and_everyone_leaves(
    tmp_path: Path,
) -> None:
    scenario = write(tmp_path, NEVER)
    run = ScenarioRun(scenario, RunOptions(quiet=True))
    began = time.monotonic()
    result = await run.execute()
    assert time.monotonic() - began < 30.0  # liveness: it ended on its own

    (error,) = result.errors
    assert error.step == "timeout"
    assert "did not end within its timeout of 3 s" in error.message
    assert "host-0" in error.message
    completed = evaluate(scenario, result).expectations[0]
    assert completed.name == "run_completed" and not completed.passed
    (host,) = result.participants
    assert [s.kind for s in host.steps][-2:] == ["leave", "unregister"]
    assert run.agents[0].participant is None
    assert run.leftover_peer_connections == 0


async def test_a_muted_microphone_sends_silence_at_the_same_pace() -> None:
    track = MutableTrack(SyntheticAudioTrack(marks=True))
    try:
        loud = [await track.recv() for _ in range(50)]  # a timing mark comes once a second
        track.muted = True
        quiet = await track.recv()
    finally:
        track.stop()
    levels = [np.abs(f.to_ndarray()).max() for f in loud if isinstance(f, av.AudioFrame)]
    assert len(levels) == len(loud) and max(levels) > 0
    last = loud[-1]
    assert isinstance(quiet, av.AudioFrame) and isinstance(last, av.AudioFrame)
    assert not np.abs(quiet.to_ndarray()).any()
    assert quiet.samples == last.samples and quiet.sample_rate == last.sample_rate
    assert quiet.pts is not None and last.pts is not None and quiet.pts > last.pts


SOURCES = """
name: sources
duration: 5s
participants:
  - name: host
    view: none
    publish:
      - {type: CAM, name: picture, source: still.png, fps: 10}
      - {type: MIC_AND_CAM, name: clip, source: clip.mp4}
  - name: guest
    role: customer
    receive: {video: decode}
"""


async def test_image_and_media_file_sources_are_published_and_received(tmp_path: Path) -> None:
    make_clip(tmp_path / "clip.mp4", seconds=1.0)
    picture = np.zeros((90, 160, 3), dtype=np.uint8)
    picture[:, :80] = (255, 0, 0)
    with av.open(str(tmp_path / "still.png"), "w", format="image2") as container:
        stream = container.add_stream("png")
        stream.width, stream.height, stream.pix_fmt = 160, 90, "rgb24"
        container.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))

    run = ScenarioRun(write(tmp_path, SOURCES), RunOptions(quiet=True))
    result = await run.execute()
    host, guest = result.participants
    assert not host.errors and not guest.errors, host.errors + guest.errors
    published = {s.stream_type: s.stream_id for s in host.streams}
    assert set(published) == {"CAM", "MIC_AND_CAM"}
    views = {s.stream_id: s for s in guest.streams if s.direction is StreamDirection.VIEW}
    picture_view, clip_view = views[published["CAM"]], views[published["MIC_AND_CAM"]]
    assert picture_view.frames > 0 and clip_view.frames > 0
    # The still image carries the timecode band; the clip, not synthetic, carries none.
    assert picture_view.delay and not clip_view.delay
    assert run.leftover_peer_connections == 0
