"""`${...}` templates in scenario strings, rendered per participant.

The loader checks every template against the file (known variables, CSV columns) so a typo
fails `validate`; rendering happens at run time, when `${env.NAME}` is read."""

from __future__ import annotations

import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "TemplateContext",
    "TemplateError",
    "check_template",
    "render",
    "render_value",
]

_TEMPLATE = re.compile(r"\$\$|\$\{([^}]*)\}")
_UNCLOSED = re.compile(r"\$\{[^}]*$")
PLAIN_NAMES = ("index", "arrival", "group", "name")
NAMESPACES = ("env", "vars", "row")


class TemplateError(ValueError):
    """A template that cannot be rendered; names the template part, never a value."""


@dataclass(frozen=True)
class TemplateContext:
    """What one participant's templates see."""

    index: int
    group: str
    arrival: int = 0
    vars: Mapping[str, Any] = field(default_factory=dict)
    row: Mapping[str, str] | None = None
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    @property
    def name(self) -> str:
        """The participant's name in reports: "agents-0", or "agents-0.3" on arrival 3."""
        suffix = f".{self.arrival}" if self.arrival else ""
        return f"{self.group}-{self.index}{suffix}"


def _expressions(template: str) -> list[str]:
    return [m.group(1).strip() for m in _TEMPLATE.finditer(template) if m.group(1) is not None]


def check_template(
    template: str, *, variables: Collection[str], columns: Collection[str] | None
) -> list[str]:
    """Problems with `template`'s references; `columns` None means no CSV data is set."""
    problems = []
    if _UNCLOSED.search(_TEMPLATE.sub("", template)):
        problems.append("unclosed `${` in template (write `$${` for a literal `${`)")
    for expression in _expressions(template):
        head, _, tail = expression.partition(".")
        if not tail:
            if head not in PLAIN_NAMES:
                known = ", ".join(PLAIN_NAMES + tuple(f"{n}.NAME" for n in NAMESPACES))
                problems.append(f"unknown template `${{{expression}}}`: use one of {known}")
        elif head == "vars" and tail not in variables:
            problems.append(f"`${{{expression}}}`: no variable {tail!r} in `vars`")
        elif head == "row":
            if columns is None:
                problems.append(f"`${{{expression}}}` needs CSV rows: set `data: {{file: ...}}`")
            elif tail not in columns:
                problems.append(
                    f"`${{{expression}}}`: the CSV data has no column {tail!r} "
                    f"(columns: {', '.join(columns)})"
                )
        elif head not in NAMESPACES:
            problems.append(f"unknown template namespace {head!r}: use env, vars or row")
    return problems


def _lookup(expression: str, context: TemplateContext) -> str:
    head, _, tail = expression.partition(".")
    if not tail:
        if head in PLAIN_NAMES:
            return str(getattr(context, head))
        raise TemplateError(f"unknown template `${{{expression}}}`")
    if head == "env":
        if tail not in context.env:
            raise TemplateError(f"environment variable {tail} is not set")
        return context.env[tail]
    if head == "vars":
        if tail not in context.vars:
            raise TemplateError(f"no variable {tail!r} in `vars`")
        return str(context.vars[tail])
    if head == "row":
        if context.row is None or tail not in context.row:
            raise TemplateError(f"no CSV column {tail!r} for this participant")
        return context.row[tail]
    raise TemplateError(f"unknown template namespace {head!r}")


def render(template: str, context: TemplateContext) -> str:
    """`template` with every `${...}` replaced and `$$` turned into `$`."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return "$"
        return _lookup(match.group(1).strip(), context)

    return _TEMPLATE.sub(substitute, template)


def render_value(value: Any, context: TemplateContext) -> Any:
    """Render every string inside nested dicts and lists (event data, metadata)."""
    if isinstance(value, str):
        return render(value, context)
    if isinstance(value, Mapping):
        return {key: render_value(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [render_value(item, context) for item in value]
    return value
