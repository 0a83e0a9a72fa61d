"""Metric summaries of a run, overall, per participant and per stream.

The JSON report writes them and the HTML report shows them; both read them from here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.scenario.metrics import METRICS, MetricValue, summarize
from agent.scenario.results import RunResult

__all__ = ["MetricTable", "metric_table"]

Summary = dict[str, Any]


@dataclass(frozen=True)
class MetricTable:
    """Every metric's values of one run, ready to be summarised at any level."""

    values: dict[str, list[MetricValue]]
    groups: dict[str, str] = field(default_factory=dict)
    """Each participant's scenario group, for `summaries(group=...)`."""

    def summaries(
        self, participant: str | None = None, stream: str | None = None, group: str | None = None
    ) -> dict[str, Summary]:
        """Summaries of every metric, or of one participant's (and stream's) or one group's
        values: then only the metrics that have some."""
        table: dict[str, Summary] = {}
        scoped = participant is not None or stream is not None or group is not None
        for name, values in self.values.items():
            chosen = [
                value
                for value in values
                if (participant is None or value.participant == participant)
                and (stream is None or value.stream == stream)
                and (group is None or self.groups.get(value.participant) == group)
            ]
            if scoped and not chosen:
                continue
            metric = METRICS[name]
            table[name] = {"unit": str(metric.quantity), **summarize(chosen, metric.quantity)}
        return table


def metric_table(result: RunResult, warmup: float) -> MetricTable:
    return MetricTable(
        {name: list(m.extract(result, warmup)) for name, m in METRICS.items()},
        {participant.name: participant.group for participant in result.participants},
    )
