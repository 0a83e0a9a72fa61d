"""Metric summaries of a run, overall, per participant and per stream.

The JSON report writes them and the HTML report shows them; both read them from here."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
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

    @cached_property
    def _scoped(self) -> dict[tuple[str, str | None], dict[str, list[MetricValue]]]:
        """Values by (participant, None) and (participant, stream), built once: a report
        of hundreds of participants asks for each of them and each of their streams."""
        index: dict[tuple[str, str | None], dict[str, list[MetricValue]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for name, values in self.values.items():
            for value in values:
                index[value.participant, None][name].append(value)
                if value.stream is not None:
                    index[value.participant, value.stream][name].append(value)
        return index

    def values_of(
        self, participant: str, stream: str | None = None
    ) -> dict[str, list[MetricValue]]:
        """One participant's values (of one stream when given), by metric; only the metrics
        that have some."""
        return dict(self._scoped.get((participant, stream), {}))

    def summaries(
        self, participant: str | None = None, stream: str | None = None, group: str | None = None
    ) -> dict[str, Summary]:
        """Summaries of every metric, or of one participant's (and stream's) or one group's
        values: then only the metrics that have some."""
        if participant is None and stream is None and group is None:
            chosen = self.values
        elif participant is not None:
            chosen = self.values_of(participant, stream)
        else:
            chosen = {
                name: found
                for name, values in self.values.items()
                if (
                    found := [
                        value
                        for value in values
                        if (stream is None or value.stream == stream)
                        and (group is None or self.groups.get(value.participant) == group)
                    ]
                )
            }
        table: dict[str, Summary] = {}
        for name, values in chosen.items():
            metric = METRICS[name]
            table[name] = {"unit": str(metric.quantity), **summarize(values, metric.quantity)}
        return table


def metric_table(result: RunResult, warmup: float) -> MetricTable:
    return MetricTable(
        {name: list(m.extract(result, warmup)) for name, m in METRICS.items()},
        {participant.name: participant.group for participant in result.participants},
    )
