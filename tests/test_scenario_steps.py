"""The step table (`agent.scenario.steps`): every step type of the language has exactly one
action, the browser's steps are the ones registered for it, and the table refuses what would
make it wrong. No platform needed."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest

from agent.scenario import step_docs, steps
from agent.scenario.checks_browser import browser_problems
from agent.scenario.model import JoinStep, Scenario, StrictModel


def test_every_step_type_has_an_action() -> None:
    assert steps.missing() == [], "register an action with @steps.action(TheStep)"
    table = steps.load()
    assert {steps.step_name(model) for model in table} == {
        steps.step_name(model) for model in steps.step_types()
    }
    assert all(row.model in steps.step_types() for row in table.values())


def test_a_step_type_without_action_is_reported() -> None:
    table = steps.load()
    row = table.pop(JoinStep)
    try:
        assert steps.missing() == ["join"]
        with pytest.raises(LookupError, match="'join' has no registered action"):
            steps.registered(JoinStep)
    finally:
        table[JoinStep] = row


def test_the_table_refuses_a_second_action_and_a_model_outside_the_language() -> None:
    steps.load()

    async def other(actor: object, step: JoinStep) -> None:
        return None

    with pytest.raises(TypeError, match="JoinStep already has an action"):
        steps.action(JoinStep)(other)

    class JumpStep(StrictModel):
        do: Literal["jump"]

    with pytest.raises(TypeError, match="JumpStep is not a step"):
        steps.action(JumpStep)


def test_what_a_browser_can_do_is_what_is_registered_for_it() -> None:
    can = {steps.step_name(model) for model in steps.browser_steps()}
    assert can == {
        "register",
        "unregister",
        "join",
        "leave",
        "publish",
        "wait_for",
        "sleep",
        "think",
        "repeat",
    }
    scenario = Scenario.model_validate(
        {
            "name": "b",
            "participants": [
                {"name": "page", "kind": "browser", "timeline": [{"do": "view", "of": "all"}]}
            ],
        }
    )
    (problem,) = browser_problems(scenario)
    assert "a browser participant cannot view; it can register, unregister" in problem.message


def test_the_docs_step_table_is_generated_from_the_models() -> None:
    page = (Path(__file__).resolve().parent.parent / "docs" / "scenarios.md").read_text("utf-8")
    assert step_docs.updated(page) == page, "run scripts/regen-docs"
    table = step_docs.step_table()
    assert table.count("\n| `") == len(steps.step_types())
    assert "| `camera_request` | `target` (required), `index`, `request` (`CAMERA_SWITCH`)" in table
