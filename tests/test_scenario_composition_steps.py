"""The composition steps of a scenario against the real local platform: `compose` (VIDEO and
AUDIO, waited for, downloaded through the signed URL and checked), `reexecute_composition`,
`cancel_composition`, `delete_composition`; the metrics and conditions they feed. The
conversation's recording is files written here (the recorder's steps are another module's)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from agent.api.models.recorder import ConversationRecordingData
from agent.scenario.actions.compositions import tile_spans
from agent.scenario.expect import evaluate
from agent.scenario.loader import load_scenario
from agent.scenario.metrics import METRICS
from agent.scenario.model import Scenario
from agent.scenario.results import RunResult
from agent.scenario.runner import RunOptions, ScenarioRun
from server.composition.routes import COMPOSITIONS_KEY
from server.embedded import EmbeddedServer
from tests.composition_support import FileRecordings, Publisher, make_recording
from tests.platform_support import CLIENTS

SCENARIO = """
name: compositions
participants:
  - name: agent
    view: none
    timeline:
      - do: register
      - do: compose
        conversation: conv-${group}
        type: video
      - do: compose
        conversation: conv-${group}
        type: AUDIO
        priority: 2
      - do: reexecute_composition
      - do: delete_composition
      - do: compose
        conversation: conv-${group}
        type: AUDIO
        wait: false
      - do: cancel_composition
      - do: unregister
expect:
  conditions: [compositions_completed, composition_media_valid, no_errors]
  composition_time: {max: "< 60s"}
"""


async def _run(server: EmbeddedServer, tmp_path: Path, text: str) -> tuple[Scenario, RunResult]:
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    scenario = load_scenario(path)
    options = RunOptions(
        server_url=server.base_url,
        client_id="agent1",
        client_secret=SecretStr(CLIENTS["agent1"][1]),
        quiet=True,
        report_dir=tmp_path / "report",
    )
    return scenario, await ScenarioRun(scenario, options).execute()


@pytest.mark.slow
async def test_compose_steps_request_wait_download_check_and_manage_compositions(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    recording = make_recording(
        tmp_path / "recording", "conv-agent", "org1", [Publisher("a"), Publisher("b", start=1.0)],
        seconds=2.5, started=1_700_000_000.0, size=(160, 120),
    )  # fmt: skip
    recordings = FileRecordings()
    recordings.add(recording)
    server.app[COMPOSITIONS_KEY].use_source(recordings)
    scenario, result = await _run(server, tmp_path, SCENARIO)
    (agent,) = result.participants
    assert not agent.errors and all(step.ok for step in agent.steps), (agent.errors, agent.steps)
    video, audio, cancelled = agent.compositions
    assert (video.type, video.state) == ("VIDEO", "COMPLETED")
    assert audio.state == "DELETED" and cancelled.state == "CANCELLED"
    assert video.file and (tmp_path / "report" / video.file).stat().st_size > 0
    assert video.problems == [] and video.duration == 2.5
    assert video.composition_time is not None and video.queue_time is not None
    assert video.queue_time <= video.composition_time
    measured = list(METRICS["composition_time"].extract(result, 0.0))
    assert len(measured) == 2  # the video and the re-executed audio
    evaluation = evaluate(scenario, result)
    assert evaluation.passed, [(e.name, e.message) for e in evaluation.failures]


async def test_a_composition_of_an_unknown_conversation_fails_its_step(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    text = SCENARIO.replace("conv-${group}", "nothing-recorded")
    scenario, result = await _run(server, tmp_path, text)
    (agent,) = result.participants
    failed = [step for step in agent.steps if not step.ok]
    assert failed and failed[0].kind == "compose"
    evaluation = evaluate(scenario, result)
    assert {e.name for e in evaluation.failures} >= {"compositions_completed", "no_errors"}


def test_tile_spans_follow_the_streams_of_the_first_recording() -> None:
    """The composer's rule: a recorded video track's tile from its publish or first frame,
    whichever came first, to its unpublish or last frame, whichever came last."""
    stored = {"location": "x.webm", "size": "1"}
    recording = ConversationRecordingData.model_validate(
        {
            "started": "2026-12-07T10:00:00.000Z",
            "stopped": "2026-12-07T10:00:10.000Z",
            "streams": [
                {"userId": "late", "started": "2026-12-07T10:00:04.000Z",
                 "tracks": [{"type": "VIDEO", "storage": stored,
                             "started": "2026-12-07T10:00:03.990Z"}, {"type": "AUDIO"}]},
                {"userId": "early", "started": "2026-12-07T09:59:00.000Z",
                 "stopped": "2026-12-07T10:00:06.500Z",
                 "tracks": [{"type": "VIDEO", "storage": stored,
                             "stopped": "2026-12-07T10:00:06.400Z"}]},
                {"userId": "voice", "started": "2026-12-07T10:00:00.000Z",
                 "tracks": [{"type": "AUDIO", "storage": stored}]},
                {"userId": "unrecorded", "started": "2026-12-07T10:00:01.000Z",
                 "tracks": [{"type": "VIDEO"}]},
            ],
        }
    )  # fmt: skip
    spans, origin = tile_spans([recording])
    assert origin == pytest.approx(1_796_637_600.0)
    assert [(s.label, s.start, s.end) for s in spans] == [
        ("early", 0.0, 6.5),
        ("late", pytest.approx(3.99), 10.0),
    ]
    assert tile_spans([]) == ([], None)
