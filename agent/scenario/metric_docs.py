"""The metric table of `docs/scenarios.md`, generated from the registry of metrics (name,
unit, what one value is of), so a metric added there is documented. `scripts/regen-docs`
rewrites the part between the markers; a test checks it is current."""

from __future__ import annotations

from agent.scenario.metrics import METRICS, Metric
from agent.scenario.step_docs import between
from agent.scenario.units import Quantity

__all__ = ["BEGIN", "END", "metric_table", "updated"]

BEGIN = "<!-- metrics: generated from agent/scenario/metrics.py by scripts/regen-docs -->"
END = "<!-- /metrics -->"

_UNIT = {Quantity.LEVEL: "level (dBFS)", Quantity.SCORE: "score (higher is better)"}
"""A unit's name in the table where its quantity's name alone does not say it."""


def _unit(metric: Metric) -> str:
    unit = _UNIT.get(metric.quantity, str(metric.quantity))
    return f"{unit}, signed" if metric.signed else unit


def metric_table() -> str:
    lines = ["| metric | unit | one value per |", "|---|---|---|"]
    for metric in METRICS.values():
        lines.append(f"| `{metric.name}` | {_unit(metric)} | {metric.per} |")
    return "\n".join(lines)


def updated(text: str) -> str:
    """`text` (the docs page) with the generated metric table between the markers."""
    return between(text, BEGIN, END, metric_table())
