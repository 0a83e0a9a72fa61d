"""Coverage of the sampled series (issue 15): a threshold on `video_fps`, `delay`, `bitrate`,
`jitter`, `audio_level`, `av_sync` or `bitrate_sent` says how many streams its values came
from out of those that should have some, and fails, naming them, when it covered fewer:
a stream whose series stayed empty cannot drop out of a percentile quietly."""

from __future__ import annotations

from agent.scenario.expect import Expectation, evaluate
from agent.scenario.results import PhaseRecord, RunResult
from tests.scenario_results_support import run, scenario


def cases(expect: dict[str, object], result: RunResult) -> dict[str, Expectation]:
    return {e.name: e for e in evaluate(scenario(expect), result).expectations}


def test_every_sampled_series_says_what_it_covered() -> None:
    expect: dict[str, object] = {
        "video_fps": {"p50": "> 1"},
        "delay": {"p95": "< 1s"},
        "bitrate": {"p50": "> 100k"},
        "bitrate_sent": {"p50": "> 100k"},
        "jitter": {"p95": "< 50ms"},
        "audio_level": {"p50": "> -40dBFS"},
        "av_sync": {"max": "< 100ms"},
    }
    for case in cases(expect, run()).values():
        if case.metric is not None:
            assert case.passed, case.message
            assert (case.covered, case.population) == (2, 2), case.name
            assert "from 2 of 2 streams" in case.message


def test_a_decoding_view_without_delays_fails_the_delay_and_is_named() -> None:
    """The customer decodes the agent's video, but no timecode was read (a source without
    one, or unreadable): the delay percentile would be the agent's view alone."""
    result = run()
    result.participants[1].streams[1].delay = []
    delay = cases({"delay": {"p95": "< 1s"}}, result)["delay p95 < 1s"]
    assert not delay.passed and (delay.covered, delay.population) == (1, 2)
    assert "covers only 1 of 2 streams" in delay.message
    assert delay.details == ["no value from customer-0 stream s-agent (← agent-0 MIC_AND_CAM)"]
    # A view received `light` reads no timecode: it was never expected to have a delay.
    result.participants[1].streams[1].reception = {"video": "light", "audio": "light"}
    delay = cases({"delay": {"p95": "< 1s"}}, result)["delay p95 < 1s"]
    assert delay.passed and (delay.covered, delay.population) == (1, 1)


def test_a_stream_with_frames_and_no_frame_rate_fails_video_fps() -> None:
    result = run()
    result.participants[0].streams[1].fps = []
    fps = cases({"video_fps": {"p50": "> 1"}}, result)["video_fps p50 > 1"]
    assert not fps.passed and fps.details == [
        "no value from agent-0 stream s-customer (← customer-0 MIC_AND_CAM)"
    ]
    assert cases({"coverage": 0.5, "video_fps": {"p50": "> 1"}}, result)["video_fps p50 > 1"].passed


def test_streams_too_short_or_outside_the_scope_are_not_expected() -> None:
    result = run()
    view = result.participants[0].streams[1]
    view.ended_at, view.fps = 3.5, []  # 1 s of media after a 2 s warm-up: no rate yet
    expect: dict[str, object] = {"warmup": 2.0, "video_fps": {"p50": "> 1"}}
    fps = cases(expect, result)["video_fps p50 > 1"]
    assert fps.passed and (fps.covered, fps.population) == (1, 1)

    # Both views last from 1 s to the run's end (22 s); a window or phase they overlap long
    # enough expects them.
    result = run(phases=[PhaseRecord(name="ramp", start=0.0, end=3.0)])
    result.participants[0].streams[1].fps = []
    scoped: dict[str, object] = {
        "video_fps": [
            {"scope": {"window": ["25s", "40s"]}, "p50": "> 1"},  # after both ended
            {"scope": {"phase": "ramp"}, "p50": "> 1"},  # 2 s of each: too short to expect
            {"scope": {"window": ["5s", "15s"]}, "p50": "> 1"},
        ]
    }
    found = cases(scoped, result)
    assert found["video_fps [window=25s,40s] p50 > 1"].population == 0
    ramp = found["video_fps [phase=ramp] p50 > 1"]  # the stream without rates is not missed
    assert ramp.passed and (ramp.covered, ramp.population) == (1, 1)
    windowed = found["video_fps [window=5s,15s] p50 > 1"]
    assert not windowed.passed and (windowed.covered, windowed.population) == (1, 2)


def test_a_published_stream_without_a_sent_bitrate_fails_bitrate_sent() -> None:
    result = run()
    result.participants[1].streams[0].bitrate = []
    sent = cases({"bitrate_sent": {"p50": "> 100k"}}, result)["bitrate_sent p50 > 100k"]
    assert not sent.passed and sent.details == [
        "no value from customer-0 stream s-customer (→ MIC_AND_CAM)"
    ]


def test_a_browser_is_expected_to_read_timecodes_not_audio_marks() -> None:
    """A browser's page decodes everything but measures the video delay alone (it reads no
    audio marks and plays audio muted): its views have no A/V offset or audio level to miss,
    and keep their delay."""
    result = run()
    page = result.participants[1]
    page.kind = "browser"
    page.streams[1].av_sync = page.streams[1].audio_level = []
    expect: dict[str, object] = {
        "av_sync": {"max": "< 100ms"},
        "audio_level": {"p50": "> -40dBFS"},
        "delay": {"p95": "< 1s"},
    }
    found = cases(expect, result)
    sync, delay = found["av_sync max < 100ms"], found["delay p95 < 1s"]
    assert sync.passed and (sync.covered, sync.population) == (1, 1)
    level = found["audio_level p50 > -40dBFS"]
    assert level.passed and (level.covered, level.population) == (1, 1)
    assert delay.passed and (delay.covered, delay.population) == (2, 2)
    page.streams[1].delay = []
    assert not cases(expect, result)["delay p95 < 1s"].passed


def test_a_browsers_stream_is_not_expected_to_carry_audio_marks() -> None:
    """Its fake microphone beeps; no timing marks: an agent's view of it has no A/V offset
    to miss (its video timecode, painted by the page, still gives a delay)."""
    result = run()
    result.participants[1].kind = "browser"  # the customer's page publishes s-customer
    for participant in result.participants:
        participant.streams[1].av_sync = []
    sync = cases({"av_sync": {"max": "< 100ms"}}, result)["av_sync max < 100ms"]
    assert (sync.covered, sync.population) == (0, 0) and "nothing was measured" in sync.message
    delay = cases({"delay": {"p95": "< 1s"}}, result)["delay p95 < 1s"]
    assert (delay.covered, delay.population) == (2, 2)


def test_a_view_the_sampler_read_once_is_not_a_gap_of_one_series() -> None:
    """A slow browser page held the per-second sampler up: the view was read once after its
    warm-up, in every series alike. No series has a gap there; packet_loss still counts it."""
    result = run()
    view = result.participants[0].streams[1]
    for name in ("fps", "delay", "bitrate", "jitter", "audio_level", "av_sync", "psnr", "ssim"):
        setattr(view, name, getattr(view, name)[-1:])
    view.fps = []
    fps = cases({"video_fps": {"p50": "> 1"}}, result)["video_fps p50 > 1"]
    assert fps.passed and (fps.covered, fps.population) == (1, 1)
