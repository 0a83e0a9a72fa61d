"""The plan of a run: arrival times of load phases, participants with rendered templates
and data rows, default timelines. No server needed."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from agent.scenario.data import DataError, RowPicker, load_rows
from agent.scenario.loader import load_scenario
from agent.scenario.model import JoinStep, PublishStep, RegisterStep, Scenario
from agent.scenario.plan import Planner, arrivals, effective_timeline, planned_duration
from agent.scenario.templating import TemplateContext, TemplateError, check_template, render

ROOT = Path(__file__).resolve().parent.parent


def make(**fields: Any) -> Scenario:
    base: dict[str, Any] = {"name": "x", "duration": 10, "participants": [{"name": "a"}]}
    base.update(fields)
    return Scenario.model_validate(base)


def test_no_phases_means_one_arrival_at_the_start() -> None:
    planned = arrivals(make())
    assert [(a.number, a.t) for a in planned] == [(0, 0.0)]
    assert planned_duration(make()) == 10


def test_constant_rate_arrivals() -> None:
    planned = arrivals(make(phases=[{"duration": "10s", "arrival_rate": 0.5}]))
    assert [a.t for a in planned] == pytest.approx([0, 2, 4, 6, 8])


def test_ramping_rate_arrivals_speed_up() -> None:
    planned = arrivals(make(phases=[{"duration": 40, "arrival_rate": 0.2, "ramp_to": 1}]))
    assert len(planned) == 24  # 0.2*40 + (1-0.2)*40/2
    gaps = [b.t - a.t for a, b in itertools.pairwise(planned)]
    assert gaps[0] > 3 and gaps[-1] < 1.2
    assert all(later <= earlier + 1e-9 for earlier, later in itertools.pairwise(gaps))
    assert planned[-1].t < 40


def test_phases_follow_each_other_with_count_pause_and_ceiling() -> None:
    scenario = make(
        phases=[
            {"duration": 10, "arrival_count": 2},
            {"duration": 5},
            {"name": "peak", "duration": 4, "arrival_rate": 1, "max_concurrent": 6},
        ]
    )
    planned = arrivals(scenario)
    assert [a.t for a in planned] == pytest.approx([0, 5, 15, 16, 17, 18])
    assert [a.number for a in planned] == list(range(6))
    assert planned[-1].phase == 2 and planned[-1].phase_name == "peak"
    assert planned[-1].max_concurrent == 6 and planned[0].max_concurrent is None
    assert planned_duration(scenario) == 19


def test_ramp_load_example_plans_its_arrivals() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "ramp-load.yaml")
    planned = arrivals(scenario)
    assert len(planned) == 4 + 14  # warm-up 0.2/s for 20s, ramp 0.2 to 0.5/s over 40s
    people = Planner(scenario).participants(planned[3])
    assert {p.conference for p in people} == {"call-3"}
    assert [p.name for p in people] == ["agent-0.3", "customer-0.3"]


def test_participants_render_templates_rows_and_start_times(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text("who,ticket\nAda,t-1\nGrace,t-2\n", encoding="utf-8")
    scenario = make(
        vars={"room": "demo"},
        participants=[
            {
                "name": "customers",
                "role": "customer",
                "count": 3,
                "start": "1s",
                "stagger": "500ms",
                "conference": "${vars.room}-${arrival}",
                "display_name": "${row.who} #${index} (${env.SITE})",
                "ticket": "${row.ticket}",
                "data": {"file": "people.csv"},
                "publish": [{"type": "CAM"}],
            }
        ],
    )
    planner = Planner(scenario, base=tmp_path, env={"SITE": "athens"})
    people = planner.participants(arrivals(scenario)[0])
    assert [p.name for p in people] == ["customers-0", "customers-1", "customers-2"]
    assert [p.start for p in people] == pytest.approx([1.0, 1.5, 2.0])
    assert [p.display_name for p in people] == [
        "Ada #0 (athens)",
        "Grace #1 (athens)",
        "Ada #2 (athens)",
    ]
    assert [p.ticket for p in people] == ["t-1", "t-2", "t-1"]
    assert {p.conference for p in people} == {"demo-0"}
    assert tuple(map(type, people[0].steps)) == (RegisterStep, JoinStep, PublishStep)


def test_an_unset_environment_variable_is_a_named_error() -> None:
    scenario = make(participants=[{"name": "a", "display_name": "${env.NOT_SET_HERE}"}])
    with pytest.raises(TemplateError, match="NOT_SET_HERE is not set"):
        Planner(scenario, env={}).participants(arrivals(scenario)[0])


def test_agent_client_id_from_the_environment() -> None:
    credentials = {"client_id_env": "BOT_ID", "client_secret_env": "BOT_SECRET"}
    scenario = make(participants=[{"name": "a", "credentials": credentials}])
    plan = Planner(scenario, env={"BOT_ID": "bot-7"}).participants(arrivals(scenario)[0])[0]
    assert plan.client_id == "bot-7"


def test_default_timeline_without_streams() -> None:
    group = make().participants[0]
    assert [s.do for s in effective_timeline(group)] == ["register", "join"]


def test_templates_render_and_escape() -> None:
    context = TemplateContext(index=2, group="g", arrival=1, vars={"n": 5}, env={})
    assert render("${group}-${index}/${arrival} ${vars.n} $${literal}", context) == (
        "g-2/1 5 ${literal}"
    )
    assert context.name == "g-2.1"
    problems = check_template("${oops.x} ${row.c} ${unclosed", variables=(), columns=None)
    assert len(problems) == 3


def test_random_rows_are_repeatable_with_a_seed(tmp_path: Path) -> None:
    import random

    rows = [{"n": str(i)} for i in range(10)]
    first = RowPicker(rows, "random", random.Random(3))
    second = RowPicker(rows, "random", random.Random(3))
    assert [first.pick(i) for i in range(5)] == [second.pick(i) for i in range(5)]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty"),
        ("a,a\n1,2\n", "duplicate"),
        ("a,b\n1\n", "2 fields|1 fields"),
        ("a,b\n", "no rows"),
    ],
)
def test_bad_csv_files(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "d.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=match):
        load_rows(path)
