"""The step table: every timeline step is its model (`agent.scenario.model`) plus the one
action registered here for it, and whether a browser participant can take it.

An action is an async function of the participant and the step, registered with
`@action(TheStep)`; `browser=True` says a browser participant can take the step too, and then
the action sees only the surface both kinds share (`StepSurface`), so the type checker keeps
it honest. Actions live in the modules of `agent.scenario.actions` (every module there is
imported, so a new module needs no list entry); `repeat` is the executor's own
(`agent.scenario.run_steps`). Adding a step: its model in `model.py` (and in the `Step` union),
its action; the JSON schema and the step table of `docs/scenarios.md` are generated from the
models (`auvious-agent schema`, `scripts/regen-docs`), and a test fails while a step type has
no action.

Importing this module is cheap; `load()` imports the actions (and with them aiortc)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar, get_args, overload

from agent.scenario.model import Step

if TYPE_CHECKING:
    from agent.scenario.run_actor import Actor
    from agent.scenario.surface import StepSurface

__all__ = ["Registered", "action", "browser_steps", "missing", "registered", "step_types"]

S = TypeVar("S")

AgentAction = Callable[["Actor", S], Awaitable[None]]
"""What only an agent participant does (it needs the participant core)."""
SharedAction = Callable[["StepSurface", S], Awaitable[None]]
"""What agents and browsers both do, through the surface they share."""


@dataclass(frozen=True, slots=True)
class Registered:
    """One row of the table."""

    model: type[Any]
    action: Callable[[Any, Any], Awaitable[None]]
    browser: bool
    """A browser participant can take this step (its action uses `StepSurface` only)."""

    @property
    def do(self) -> str:
        return step_name(self.model)


_TABLE: dict[type[Any], Registered] = {}


@overload
def action(
    model: type[S], *, browser: Literal[True]
) -> Callable[[SharedAction[S]], SharedAction[S]]: ...


@overload
def action(
    model: type[S], *, browser: Literal[False] = False
) -> Callable[[AgentAction[S]], AgentAction[S]]: ...


def action(model: type[S], *, browser: bool = False) -> Callable[[Any], Any]:
    """Register the decorated function as what `model`'s step does (once per model)."""
    if model not in step_types():
        raise TypeError(f"{model.__name__} is not a step of the `Step` union in model.py")

    def register(function: Callable[[Any, Any], Awaitable[None]]) -> Any:
        if model in _TABLE and _TABLE[model].action is not function:
            raise TypeError(f"{model.__name__} already has an action: {_TABLE[model].action}")
        _TABLE[model] = Registered(model, function, browser)
        return function

    return register


def step_types() -> tuple[type[Any], ...]:
    """Every step model of the language, in the order of the `Step` union."""
    union = get_args(Step)[0]
    return tuple(get_args(union))


def step_name(model: type[Any]) -> str:
    """The `do` value of a step model."""
    return str(get_args(model.model_fields["do"].annotation)[0])


def load() -> dict[type[Any], Registered]:
    """The table, with every action module imported (idempotent)."""
    import agent.scenario.actions as package
    import agent.scenario.run_steps  # noqa: F401  (registers `repeat`)

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    return _TABLE


def registered(model: type[Any]) -> Registered:
    found = _TABLE.get(model)
    if found is None:
        raise LookupError(f"step {step_name(model)!r} has no registered action")
    return found


def missing() -> list[str]:
    """The `do` of every step type without an action (a defect: the table is incomplete)."""
    table = load()
    return [step_name(model) for model in step_types() if model not in table]


def browser_steps() -> tuple[type[Any], ...]:
    """The step models a browser participant can take."""
    table = load()
    return tuple(model for model in step_types() if model in table and table[model].browser)
