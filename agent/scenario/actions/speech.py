"""Steps of speech: saying something on a `source: speech` stream."""

from __future__ import annotations

from agent.scenario.model import SayStep
from agent.scenario.run_actor import Actor
from agent.scenario.steps import action

__all__: list[str] = []


@action(SayStep)
async def _say(actor: Actor, step: SayStep) -> None:
    await actor.speaking.say(step.stream, step.text, wait=step.wait)
