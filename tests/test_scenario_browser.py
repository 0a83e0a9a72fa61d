"""Browser participants in scenarios: a `kind: browser` group, what it may say, and a run.

The checks need no browser. The run is `auvious-agent run` as a user runs it (a subprocess,
the embedded platform) on the example mixing one Chromium and two agents; nothing is
mocked: Debian's Chromium runs the platform's client page with its own WebRTC stack. Skipped
with the reason where Chromium or Playwright is missing (`scripts/ensure-chromium`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from agent.browser import chromium_missing
from agent.scenario.expect import evaluate
from agent.scenario.loader import Issue, ScenarioError, parse_scenario
from agent.scenario.model import scenario_json_schema
from agent.scenario.runner import RunOptions, ScenarioRun

pytestmark = pytest.mark.serial  # Chromium joins and leaves on a timeline: a quiet CPU

ROOT = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).parent / "auvious-agent"
EXAMPLE = ROOT / "scenarios" / "browser-and-agents.yaml"
RUN_TIMEOUT = 90


def issues(text: str, tmp_path: Path) -> list[Issue]:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(textwrap.dedent(text), "s.yaml", base=tmp_path)
    return caught.value.issues


AGENTS = """\
name: mixed
duration: 5s
participants:
  - name: agents
    publish: [{type: MIC_AND_CAM}]
    receive: {video: decode}
"""


def test_a_browser_group_loads_with_its_codec(tmp_path: Path) -> None:
    text = AGENTS + "  - name: browser\n    kind: browser\n    codec: VP8\n"
    scenario = parse_scenario(text, "s.yaml", base=tmp_path)
    browser = scenario.participants[1]
    assert (browser.kind, browser.codec) == ("browser", "VP8")
    assert scenario.participants[0].kind == "agent"


def test_what_a_browser_cannot_do_is_located_at_its_field(tmp_path: Path) -> None:
    found = issues(
        AGENTS
        + """\
  - name: browser
    kind: browser
    publish: [{type: CAM}]
    view: [agents]
    snapshot: ignore
    timeline:
      - do: register
      - do: join
        conference: other
      - do: request_snapshot
        target: agents
      - do: repeat
        count: 2
        steps:
          - do: mute
            media: audio
      - do: wait_for
        event: ConferenceStreamPublishedEvent
      - do: leave
        after: ConferenceLeftEvent
""",
        tmp_path,
    )
    by_path = {issue.path: issue for issue in found}
    assert set(by_path) == {
        "participants[1].publish",
        "participants[1].view",
        "participants[1].snapshot",
        "participants[1].timeline[1].conference",
        "participants[1].timeline[2].do",
        "participants[1].timeline[3].steps[0].do",
        "participants[1].timeline[4].event",
        "participants[1].timeline[5].after",
    }, [str(issue) for issue in found]
    assert "MIC_AND_CAM" in by_path["participants[1].publish"].message
    assert "cannot request_snapshot" in by_path["participants[1].timeline[2].do"].message
    assert "cannot mute" in by_path["participants[1].timeline[3].steps[0].do"].message
    assert by_path["participants[1].timeline[2].do"].line == 16  # the file's own line


def test_a_codec_on_an_agent_group_and_a_request_to_a_browser_are_refused(
    tmp_path: Path,
) -> None:
    found = issues(
        """\
        name: mixed
        duration: 5s
        participants:
          - name: agents
            codec: VP8
            publish: [{type: CAM}]
            timeline:
              - do: register
              - do: camera_request
                target: browser
          - name: browser
            kind: browser
        """,
        tmp_path,
    )
    paths = {issue.path: issue.message for issue in found}
    assert set(paths) == {"participants[0].codec", "participants[0].timeline[1].target"}
    assert "browser" in paths["participants[0].timeline[1].target"]


def test_a_browser_codec_other_than_the_agents_is_refused(tmp_path: Path) -> None:
    """The router forwards and does not transcode: an H264-only browser sees no VP8 agent."""
    text = AGENTS + "  - name: browser\n    kind: browser\n    codec: H264\n"
    text = text.replace(
        "publish: [{type: MIC_AND_CAM}]", "publish: [{type: MIC_AND_CAM, codec: VP8}]"
    )
    [issue] = issues(text, tmp_path)
    assert issue.path == "participants[1].codec" and "'agents' uses VP8" in issue.message
    parse_scenario(text.replace("codec: VP8", "codec: H264"), "s.yaml", base=tmp_path)


def test_a_browser_measures_the_delay_on_its_own(tmp_path: Path) -> None:
    """Only agents receiving `light`: a delay threshold holds up only with a browser there."""
    text = """\
    name: delay
    duration: 5s
    participants:
      - name: agents
        publish: [{type: MIC_AND_CAM}]
        receive: {video: light}
    expect: {delay: {p95: "< 1s"}}
    """
    assert [issue.path for issue in issues(text, tmp_path)] == ["expect.delay"]
    browser = textwrap.dedent(text).replace(
        "expect:", "  - name: browser\n    kind: browser\nexpect:"
    )
    parse_scenario(browser, "s.yaml", base=tmp_path)


def test_the_schema_has_the_kind_and_codec_of_a_group() -> None:
    schema = scenario_json_schema()
    group = schema["$defs"]["ParticipantGroup"]["properties"]
    assert group["kind"]["enum"] == ["agent", "browser"]
    assert group["codec"]["anyOf"][0]["enum"] == ["VP8", "H264"]


# --- runs ----------------------------------------------------------------------------------

TIMELINE = """\
name: browser-timeline
duration: 14s
participants:
  - name: agent
    publish: [{type: MIC_AND_CAM, resolution: 320x240, fps: 15, codec: H264}]
    receive: {video: decode}
  - name: customer
    kind: browser
    role: customer              # the page logs in with a ticket made for the conference
    codec: H264
    timeline:
      - do: register
      - do: join
      - do: publish
      - do: wait_for
        condition: receiving_every_publisher
        timeout: 20s
      - do: sleep
        duration: 2s
      - do: leave
      - do: unregister
expect:
  conditions: [every_participant_joined, every_viewer_received_every_publisher, no_errors]
"""


@pytest.mark.slow
@pytest.mark.timeout(RUN_TIMEOUT)
@pytest.mark.skipif(chromium_missing() is not None, reason=str(chromium_missing()))
async def test_a_browser_timeline_with_h264_leaves_and_the_agent_stops_viewing(
    tmp_path: Path,
) -> None:
    scenario = parse_scenario(TIMELINE, "timeline.yaml", base=tmp_path)
    run = ScenarioRun(scenario, RunOptions(report_dir=tmp_path, quiet=True))
    result = await run.execute()
    assert evaluate(scenario, result).passed, [str(e) for e in result.errors]
    agent, browser = result.participants
    assert browser.kind == "browser" and browser.errors == []
    assert [(s.kind, s.ok) for s in browser.steps] == [
        (kind, True) for kind in ("register", "join", "publish", "wait_for", "leave", "unregister")
    ]
    assert browser.left_at is not None and browser.left_at < result.duration - 2
    [view] = [s for s in browser.streams if s.direction == "view"]
    assert view.publisher == "agent-0" and view.frames > 0 and view.frames_decoded
    assert view.delay, "the page read no timecode of the agent's H264 video"
    # Started when the page began viewing, on the run's clock (the page's wall-clock time).
    assert view.started_at is not None and browser.joined_at is not None
    assert browser.arrived_at < view.started_at < browser.joined_at + 5
    # The agent saw the browser's stream go when the page left, long before the run's end.
    [of_browser] = [s for s in agent.streams if s.publisher == "customer-0"]
    assert of_browser.frames > 0 and of_browser.ended_at is not None
    assert of_browser.ended_at < result.duration - 2
    assert run.leftover_peer_connections == 0
    assert all(actor.peer_connection_count() == 0 for actor in run.actors)


# --- the example, run through the CLI ----------------------------------------------------


def participant(report: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in report["participants"] if p["name"] == name)
    return found


def raw_streams(report: dict[str, Any], name: str) -> list[dict[str, Any]]:
    found: dict[str, Any] = next(p for p in report["result"]["participants"] if p["name"] == name)
    streams: list[dict[str, Any]] = found["streams"]
    return streams


@pytest.mark.slow
@pytest.mark.timeout(RUN_TIMEOUT + 10)
@pytest.mark.skipif(chromium_missing() is not None, reason=str(chromium_missing()))
def test_the_browser_and_agents_example_runs_and_reports_the_browser(tmp_path: Path) -> None:
    report_dir = tmp_path / "report"
    run = subprocess.run(
        [str(CLI), "run", str(EXAMPLE), "--report", str(report_dir)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=RUN_TIMEOUT,
        env={**os.environ},
    )
    assert "Traceback" not in run.stdout + run.stderr, run.stderr
    assert run.returncode == 0, run.stdout + run.stderr
    assert "PASS browser-and-agents" in run.stdout
    report = json.loads((report_dir / "report.json").read_text())
    assert report["passed"] is True and report["interrupted"] is False

    browser = participant(report, "browser-0")
    assert browser["kind"] == "browser" and browser["errors"] == []
    agents = [participant(report, f"agents-{i}") for i in range(2)]
    assert [a["kind"] for a in agents] == ["agent", "agent"]

    # The browser's view of each agent: Chromium decoded it and read the agent's timecode.
    views = {s["publisher"]: s for s in browser["streams"] if s["direction"] == "view"}
    assert set(views) == {"agents-0", "agents-1"}
    for view in views.values():
        metrics = view["metrics"]
        assert metrics["video_fps"]["p50"] > 5, metrics
        assert 0 < metrics["delay"]["p50"] < 1.0, metrics
        assert "freeze_count" in metrics and metrics["packets_lost"]["max"] == 0
        assert view["frames_decoded"] > 30 and view["frames"] > 0
    for raw in raw_streams(report, "browser-0"):
        if raw["direction"] == "view":
            assert raw["frames_decoded"] > 30, raw["frames_decoded"]
            assert raw["jitter"] and all(0 <= s["value"] < 1 for s in raw["jitter"])

    # Each agent's view of the browser: it decoded Chromium's video and read the timecode
    # the page paints into it.
    for agent in agents:
        of_browser = [s for s in agent["streams"] if s["publisher"] == "browser-0"]
        assert len(of_browser) == 1, agent["streams"]
        metrics = of_browser[0]["metrics"]
        assert metrics["video_fps"]["p50"] > 5, metrics
        assert 0 < metrics["delay"]["p50"] < 1.0, metrics

    # One report: the browser's figures are next to the agents' in the run's metrics.
    assert report["metrics"]["delay"]["count"] >= sum(
        p["metrics"]["delay"]["count"] for p in [browser, *agents]
    )

    # The load generator's health covers the page: Chromium's own figure of its main thread.
    (health,) = report["result"]["health"]
    (page,) = health["pages"]
    assert page["participant"] == "browser-0" and 0 < page["cpu_mean"] < 1, page
