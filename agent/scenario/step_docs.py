"""The timeline-step table of `docs/scenarios.md`, generated from the step models (their
docstrings, fields and defaults) and the step table (which a browser can take), so the docs
follow the language. `python -m agent.scenario.step_docs docs/scenarios.md` (or
`scripts/regen-docs`) rewrites the part between the markers; a test checks it is current."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

from agent.scenario import steps

__all__ = ["BEGIN", "END", "between", "step_table", "updated"]

BEGIN = "<!-- steps: generated from agent/scenario/model.py by scripts/regen-docs -->"
END = "<!-- /steps -->"
COMMON = ("do", "id", "at", "after")
"""Keys every step takes, described once above the table."""


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value: Any = info.get_default(call_default_factory=True)
    if value is None:
        return ""
    if isinstance(value, bool):
        value = str(value).lower()  # as YAML writes it
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def _fields(model: type[Any]) -> str:
    cells = []
    for name, info in model.model_fields.items():
        if name in COMMON or info.exclude:
            continue
        default = _default(info)
        cells.append(f"`{name}` ({default})" if default else f"`{name}`")
    return ", ".join(cells) or "—"


def _what(model: type[Any]) -> str:
    return " ".join((inspect.getdoc(model) or "").split())


def step_table() -> str:
    """Every step of the language: `do`, its keys (default), what it does, browser or not."""
    table = steps.load()
    lines = [
        "| `do` | keys (default; times in seconds) | what it does | browser |",
        "|---|---|---|---|",
    ]
    for model in steps.step_types():
        row = table.get(model)
        browser = "yes" if row is not None and row.browser else "—"
        lines.append(
            f"| `{steps.step_name(model)}` | {_fields(model)} | {_what(model)} | {browser} |"
        )
    return "\n".join(lines)


def between(text: str, begin: str, end: str, body: str) -> str:
    """`text` with `body` in place of what is between the markers `begin` and `end`."""
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise ValueError(f"the page has no {begin!r} ... {end!r} markers")
    return text[: start + len(begin)] + "\n" + body + "\n" + text[stop:]


def updated(text: str) -> str:
    """`text` (the docs page) with the generated step table between the markers."""
    return between(text, BEGIN, END, step_table())


def main(argv: list[str]) -> int:
    """Rewrite every generated table of the pages (steps and metrics)."""
    from agent.scenario import metric_docs

    for name in argv or ["docs/scenarios.md"]:
        path = Path(name)
        text = path.read_text(encoding="utf-8")
        new = metric_docs.updated(updated(text))
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
