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


BAD_NAMES = """\
name: s
phases:
  - {name: ramp, duration: 10s, arrival_count: 1}
participants:
  - name: guest
    publish: [{type: CAM}]
expect:
  join_time:
    scope: {group: guests, phase: rampup}
    p95: "< 2s"
  video_fps:
    - {scope: {stream: SCREN}, p50: "> 8"}
    - {scope: {window: [20s, 5s]}, p50: "> 8"}
"""


def test_a_scope_naming_what_the_scenario_lacks_is_located() -> None:
    """A scope of a group, phase or stream type the scenario does not have (a typo) would
    only fail the run with "nothing was measured": `validate` says so, at the line."""
    with pytest.raises(ScenarioError) as caught:  # the file does not parse: two problems
        parse_scenario(BAD_NAMES, "s.yaml")
    found = {(issue.line, issue.path): issue.message for issue in caught.value.issues}
    stream = found.pop((12, "expect.video_fps[0].scope.stream"))
    assert "'MIC', 'CAM', 'SCREEN' or 'MIC_AND_CAM'; did you mean 'SCREEN'?" in stream
    assert "ends before it starts" in found.pop((13, "expect.video_fps[1].scope.window"))
    assert found == {}
    fixed = BAD_NAMES.replace("SCREN", "SCREEN").replace("[20s, 5s]", "[5s, 20s]")
    with pytest.raises(ScenarioError) as caught:  # it parses: the names it refers to
        parse_scenario(fixed, "s.yaml")
    found = {(issue.line, issue.path): issue.message for issue in caught.value.issues}
    assert found == {
        (9, "expect.join_time.scope.group"): "no participant group named 'guests' "
        "(there are: guest); did you mean 'guest'?",
        (9, "expect.join_time.scope.phase"): "no phase named 'rampup' (there are: ramp); "
        "did you mean 'ramp'?",
    }


def test_a_phase_scope_needs_phases() -> None:
    text = BAD_NAMES.replace("phases:\n  - {name: ramp, duration: 10s, arrival_count: 1}\n", "")
    text = text.replace("name: s\n", "name: s\nduration: 30s\n").replace("guests", "guest")
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text.replace("SCREN", "SCREEN").replace("[20s, 5s]", "[5s, 20s]"), "s")
    [issue] = caught.value.issues
    assert issue.path == "expect.join_time.scope.phase"
    assert "no phase named 'rampup' (there are: none)" in issue.message
