"""Audio level, jitter, A/V sync and per-stream bitrate (sent and received), measured from the
media a real call carried: the runner against the real local platform, aiortc peer
connections through its router on loopback, a shaped link (`network:`) for jitter.

One short call serves every check: a loud publisher (synthetic: timing-mark tones and a
timecoded picture) and a silent one (`source: black`: a black picture, silent audio), each
viewed by its own group, the silent one's viewer behind a link with 100 ms of jitter. Each
metric has an expectation that holds and one that must fail on what was measured."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent.participant import ViewerMeasurements
from agent.scenario import metric_docs
from agent.scenario.expect import evaluate
from agent.scenario.loader import ScenarioError
from agent.scenario.metrics import METRICS
from agent.scenario.model import Scenario
from agent.scenario.results import ParticipantResult, RunResult, StreamDirection, StreamResult
from agent.scenario.run_metrics import ViewSeries, new_stream
from agent.scenario.runner import ScenarioRun
from server.embedded import EmbeddedServer
from tests.test_load_sustained import track, view
from tests.test_scenario_run import options, write

pytestmark = pytest.mark.serial  # jitter and sync floors measured on real media

CALL = """
name: media-metrics
duration: 7s
participants:
  - name: loud
    publish: [{type: MIC_AND_CAM, resolution: 320x180, fps: 15}]
    view: none
  - name: quiet
    publish: [{type: MIC_AND_CAM, resolution: 320x180, fps: 15, source: black}]
    view: none
  - name: ears
    view: [loud]
    receive: {audio: decode, video: decode}
  - name: shaky
    view: [quiet]
    receive: {audio: decode, video: light}
    network: {profile: {down: {jitter: 100ms, reorder: true}}}
expect:
  warmup: 2s
  audio_level:
    - {scope: {group: ears}, p50: "> -40dBFS"}
    - {scope: {group: shaky}, p50: "> -40dBFS"}
  av_sync:
    - {scope: {group: ears}, min: "> -1s", max: "< 1s"}
    - {scope: {group: ears}, min: "> 500ms"}
  jitter:
    - {scope: {group: ears}, p50: "< 40ms"}
    - {scope: {group: shaky}, p50: "< 5ms"}
  bitrate_sent:
    - {scope: {group: loud}, p50: "> 50kbit/s"}
    - {scope: {group: loud}, p50: "> 50M"}
  bitrate:
    - {scope: {group: ears}, p50: "> 50k"}
    - {scope: {group: ears}, p50: "> 50M"}
"""


def viewed(result: RunResult, name: str) -> StreamResult:
    participant: ParticipantResult = next(p for p in result.participants if p.name == name)
    return next(s for s in participant.streams if s.direction is StreamDirection.VIEW)


@pytest.mark.slow
async def test_audio_jitter_sync_and_bitrates_come_from_the_media_received(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    scenario = write(tmp_path, CALL)
    result = await ScenarioRun(scenario, options(server)).execute()
    verdicts = {e.name: e for e in evaluate(scenario, result).expectations}

    loud, quiet = viewed(result, "ears-0"), viewed(result, "shaky-0")
    # The marks' tone (60 ms at -9 dBFS each second) is about -21 dBFS over a second;
    # silence is the floor.
    assert loud.audio_level and quiet.audio_level
    assert -30 < max(s.value for s in loud.audio_level) < -12
    assert max(s.value for s in quiet.audio_level) < -90
    assert verdicts["audio_level [group=ears] p50 > -40dBFS"].passed
    assert not verdicts["audio_level [group=shaky] p50 > -40dBFS"].passed

    # Audio marks and video timecodes stamp one clock: on loopback they arrive about
    # together (on a loaded machine, video decoding lags by a couple of hundred ms).
    assert loud.av_sync, "the viewer decoding both measured an A/V offset"
    assert not quiet.av_sync, "no marks in silence, no video decoded: no A/V offset"
    ok = verdicts["av_sync [group=ears] min > -1s"]
    assert ok.passed, ok.message
    assert not verdicts["av_sync [group=ears] min > 500ms"].passed  # sound half a second late

    # RTCP receiver statistics: the shaped link's jitter shows, the clean one's does not.
    assert loud.jitter and quiet.jitter
    clean = sorted(s.value for s in loud.jitter)[len(loud.jitter) // 2]
    shaken = sorted(s.value for s in quiet.jitter)[len(quiet.jitter) // 2]
    assert shaken > clean + 0.005, (clean, shaken)  # 100 ms shaped, smoothed by RTCP (1/16)
    assert verdicts["jitter [group=ears] p50 < 40ms"].passed
    assert not verdicts["jitter [group=shaky] p50 < 5ms"].passed

    # Bits sent by the publisher's stream, bits received by its viewer.
    assert verdicts["bitrate_sent [group=loud] p50 > 50kbit/s"].passed
    assert not verdicts["bitrate_sent [group=loud] p50 > 50M"].passed
    assert verdicts["bitrate [group=ears] p50 > 50k"].passed
    assert not verdicts["bitrate [group=ears] p50 > 50M"].passed


def _audio_video(
    audio_delays: list[float], video_delays: list[float], energy: float, seconds: float
) -> ViewerMeasurements:
    """A viewed MIC_AND_CAM stream's cumulative figures: the delays measured so far (ms)."""

    def summary(values: list[float]) -> dict[str, float | None]:
        return {"count": float(len(values)), "mean": sum(values) / len(values)} if values else {}

    audio = replace(
        track("audio", 50),
        delay_ms=summary(audio_delays),
        total_audio_energy=energy,
        total_samples_duration=seconds,
    )
    return view(audio, replace(track("video", 30), delay_ms=summary(video_delays)))


def test_sound_lagging_the_picture_is_an_av_offset_an_expectation_catches() -> None:
    """Audio marks arrive 300 ms after the picture of the same instant: the offset is the
    audio's delay less the video's, paired as each measured something new (the marks come
    once a second, so a second without one waits for the next)."""
    stream = new_stream("s", StreamDirection.VIEW, "MIC_AND_CAM", 0.0, publisher="loud-0")
    series = ViewSeries(stream)
    series.take(_audio_video([380.0], [80.0, 80.0], 0.01, 1.0), "video", 1.0)
    series.take(_audio_video([380.0], [80.0, 80.0, 90.0], 0.02, 2.0), "video", 2.0)  # no mark
    series.take(_audio_video([380.0, 400.0], [80.0, 80.0, 90.0], 0.02, 3.0), "video", 3.0)
    assert [round(s.value, 3) for s in stream.av_sync] == [0.3, 0.31]
    # Level of each second from the energy's growth: -20 dBFS, -20 dBFS, then silence.
    assert [round(s.value, 1) for s in stream.audio_level] == [-20.0, -20.0, -120.0]

    result = RunResult(
        scenario="media-metrics",
        started_at=datetime.now(UTC),
        duration=3.0,
        participants=[
            ParticipantResult(
                name="ears-0", group="ears", index=0, arrived_at=0.0, streams=[stream]
            )
        ],
    )
    spec = Scenario.model_validate(
        {
            "name": "media-metrics",
            "participants": [{"name": "ears"}],
            "expect": {"av_sync": {"max": "< 100ms", "min": "> -100ms"}},
        }
    )
    verdicts = {e.name: e.passed for e in evaluate(spec, result).expectations}
    assert verdicts == {
        "run_completed": True,
        "av_sync max < 100ms": False,
        "av_sync min > -100ms": True,
    }


def test_the_docs_metric_table_is_generated_from_the_registry() -> None:
    page = (Path(__file__).resolve().parent.parent / "docs" / "scenarios.md").read_text("utf-8")
    assert metric_docs.updated(page) == page, "run scripts/regen-docs"
    table = metric_docs.metric_table()
    assert table.count("\n| `") == len(METRICS) and all(m.per for m in METRICS.values())
    assert "| `audio_level` | level (dBFS) |" in table and "| `av_sync` | time, signed |" in table


def test_audio_expectations_choose_decoding_or_say_no_group_can_measure_them(
    tmp_path: Path,
) -> None:
    text = """
name: levels
duration: 5s
participants:
  - name: host
    publish: [{type: MIC_AND_CAM}]
  - name: guest
    receive: {video: light}
expect:
  audio_level: {p50: "> -40dBFS"}
  av_sync: {max: "< 100ms"}
"""
    scenario = write(tmp_path, text)
    host, guest = scenario.participants
    # Left out: the audio decoded and video sampled, as the expectations need; said: as said.
    assert (scenario.receive(host).audio, scenario.receive(host).video) == ("decode", "sampled")
    assert (scenario.receive(guest).audio, scenario.receive(guest).video) == ("light", "light")
    light = text.replace("publish: [{type: MIC_AND_CAM}]", "receive: {video: light}")
    with pytest.raises(ScenarioError) as raised:
        write(tmp_path, light)
    message = str(raised.value)
    assert "audio_level is measured from decoded audio, but no group decodes audio" in message
    assert "av_sync is measured from decoded audio marks and video timecodes" in message
    assert "receive: {audio: decode, video: sampled}" in message
    # A browser group does not measure them, whatever `receive` says of it when left out.
    browser = light.replace("expect:", "  - name: page\n    kind: browser\nexpect:")
    with pytest.raises(ScenarioError, match="audio_level is measured from decoded audio"):
        write(tmp_path, browser)
