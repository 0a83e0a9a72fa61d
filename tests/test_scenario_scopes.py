"""Scoped expectations: a threshold on the values of some groups, stream types, phases or a
window of the run, and several scopes of one metric side by side."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.scenario.expect import evaluate
from agent.scenario.loader import ScenarioError, parse_scenario
from agent.scenario.results import PhaseRecord, RunResult, Sample
from tests.scenario_results_support import run, scenario


def customer_sees_little() -> RunResult:
    """The customer's view of the agent gets 5 fps; the agent's view gets 30."""
    result = run(phases=[PhaseRecord(name="ramp", start=0.0, end=5.0)])
    view = result.participants[1].streams[1]
    view.fps = [Sample(t=sample.t, value=5.0) for sample in view.fps]
    return result


def verdicts(expect: dict[str, object], result: RunResult) -> dict[str, bool]:
    return {e.name: e.passed for e in evaluate(scenario(expect), result).expectations}


def test_each_scope_of_a_metric_is_judged_on_its_own_values() -> None:
    expect: dict[str, object] = {
        "video_fps": [
            {"scope": {"group": "agent"}, "p50": "> 20"},
            {"scope": {"group": "customer"}, "p50": "> 20"},
            {"scope": {"stream": "SCREEN"}, "p50": "> 1"},
        ]
    }
    found = verdicts(expect, customer_sees_little())
    assert found["video_fps [group=agent] p50 > 20"] is True
    assert found["video_fps [group=customer] p50 > 20"] is False
    assert found["video_fps [stream=SCREEN] p50 > 1"] is False  # nothing was measured


def test_phases_and_windows_choose_values_by_time() -> None:
    result = customer_sees_little()
    for index in (0, 1):  # both views at 5 fps for their first seconds only
        view = result.participants[index].streams[1]
        view.fps = [Sample(t=s.t, value=5.0 if s.t <= 5 else 30.0) for s in view.fps]
    found = verdicts(
        {
            "video_fps": [
                {"scope": {"phase": "ramp"}, "max": "< 10"},
                {"scope": {"window": ["6s", "20s"]}, "min": "> 20"},
            ],
            "join_time": {"scope": {"group": "customer"}, "max": "< 950ms"},
        },
        result,
    )
    assert found == {
        "run_completed": True,
        "video_fps [phase=ramp] max < 10": True,
        "video_fps [window=6s,20s] min > 20": True,
        "join_time [group=customer] max < 950ms": True,
    }


def test_a_bad_scope_is_located(tmp_path: Path) -> None:
    text = (
        "name: s\nduration: 10s\nparticipants:\n  - name: a\n"
        "expect:\n  video_fps:\n    - scope: {gruop: a}\n      p50: '> 5'\n"
    )
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, "s.yaml")
    [issue] = caught.value.issues  # not also "expected a mapping" for the one-scope form
    assert (issue.line, issue.path) == (7, "expect.video_fps[0].scope.gruop")
    assert "unknown key 'gruop'" in issue.message
