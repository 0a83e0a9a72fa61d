"""What a `kind: browser` group cannot do, found before a run, each at its field.

A browser participant is Chromium on the platform's client page: the page publishes
MIC_AND_CAM from the fake devices, views every stream, decodes all it views and answers no
snapshot or camera request. A scenario asking it for more would fail at run time; here it
fails at load time, naming the line."""

from __future__ import annotations

import re
from collections.abc import Iterator

from agent.scenario.checks import Loc, Problem, _walk_steps
from agent.scenario.model import (
    JoinStep,
    ParticipantGroup,
    PublishStep,
    Scenario,
    Step,
    WaitForStep,
)
from agent.scenario.steps import browser_steps, step_name

__all__ = ["browser_problems"]

BROWSER_CONDITIONS = ("everyone_joined", "receiving_every_publisher")
EVENT_TYPE = re.compile(r"^[A-Z][A-Za-z0-9]*Event$")

_FIXED = {
    "publish": "a browser publishes MIC_AND_CAM from Chromium's fake camera and microphone; "
    "drop `publish` (its video codec is the group's `codec`)",
    "receive": "a browser decodes every stream it views; drop `receive`",
    "record": "a browser participant does not record; drop `record`",
    "snapshot": "a browser participant does not answer snapshot requests; drop `snapshot`",
    "camera": "a browser participant does not answer camera requests; drop `camera`",
    "display_name": "the client page sends no display name; drop `display_name`",
}


def browser_problems(scenario: Scenario) -> Iterator[Problem]:
    """Every field or step of `scenario` a browser group sets but cannot do."""
    for number, group in enumerate(scenario.participants):
        loc: Loc = ("participants", number)
        if group.kind == "browser":
            yield from _group(group, loc)
            yield from _codec(group, loc, scenario)
        elif group.codec is not None:
            yield Problem(
                (*loc, "codec"),
                "`codec` is a browser group's video codec; an agent group sets `codec` per "
                "stream in `publish`",
            )


def _group(group: ParticipantGroup, loc: Loc) -> Iterator[Problem]:
    for field, message in _FIXED.items():
        if field in group.model_fields_set:
            yield Problem((*loc, field), message)
    if group.view != "all":
        yield Problem((*loc, "view"), "a browser views every stream of its conference: `all`")
    for step, here in _walk_steps(group.timeline or [], (*loc, "timeline")):
        yield from _step(step, here)


def _codec(browser: ParticipantGroup, loc: Loc, scenario: Scenario) -> Iterator[Problem]:
    """The router forwards what a publisher sends and transcodes nothing, and both a browser
    with a `codec` and an agent send and receive one codec: they must name the same."""
    from agent.scenario.run_media import video_codecs  # imports aiortc: a browser's check only

    if browser.codec is None:
        return  # Chromium then offers every codec it has
    for group in scenario.participants:
        if group.kind == "agent" and (agents := video_codecs(group.publish)[0]) != browser.codec:
            yield Problem(
                (*loc, "codec"),
                f"the browser sends and receives only {browser.codec}, but group "
                f"{group.name!r} uses {agents} (its streams' `codec`, VP8 by default): the "
                "router does not transcode; give them the same codec",
            )


def _step(step: Step, loc: Loc) -> Iterator[Problem]:
    # What the page can do (the step table's `browser=True`): `register` starts Chromium,
    # `join` also publishes and views.
    can_do = browser_steps()
    if not isinstance(step, can_do):
        can = ", ".join(step_name(kind) for kind in can_do)
        yield Problem((*loc, "do"), f"a browser participant cannot {step.do}; it can {can}")
        return
    if isinstance(step, JoinStep) and step.conference is not None:
        yield Problem((*loc, "conference"), "a browser joins its group's `conference`")
    if isinstance(step, PublishStep) and step.streams is not None:
        yield Problem((*loc, "streams"), "a browser publishes its one MIC_AND_CAM stream")
    if isinstance(step, WaitForStep):
        if step.condition is not None and step.condition not in BROWSER_CONDITIONS:
            yield Problem(
                (*loc, "condition"),
                f"a browser can wait for {' or '.join(BROWSER_CONDITIONS)}, not {step.condition}",
            )
        if step.event is not None and EVENT_TYPE.match(step.event):
            yield Problem((*loc, "event"), _NO_EVENTS)
    if step.after is not None and EVENT_TYPE.match(step.after):
        yield Problem((*loc, "after"), _NO_EVENTS)


_NO_EVENTS = (
    "a browser participant's events stay in its page; wait for a step (`group.step`) or a "
    "condition instead"
)
