"""The worst received streams of a run, named: at hundreds of participants a plot shows the
crowd, and this table says who fell out of it and on what."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from agent.scenario.metrics import METRICS, aggregate
from agent.scenario.report.markup import DASH, anchor, table
from agent.scenario.report.summary import MetricTable
from agent.scenario.results import ParticipantResult, RunResult, StreamDirection, StreamResult
from agent.scenario.units import format_quantity

__all__ = ["CRITERIA", "Criterion", "RankedStream", "rank_streams", "render_worst"]


@dataclass(frozen=True)
class Criterion:
    """One way a stream can be bad: a metric's aggregate over the stream's values."""

    metric: str
    aggregate: str
    heading: str
    worse_low: bool = False
    """A low value is the bad one (a frame rate); else a high one (a delay)."""

    @property
    def zero_is_fine(self) -> bool:
        """No freeze, no loss, no gap: nothing to rank a stream on."""
        return not self.worse_low and self.metric != "delay"


CRITERIA = (
    Criterion("video_fps", "p50", "frame rate p50", worse_low=True),
    Criterion("delay", "p95", "delay p95"),
    Criterion("freeze_total", "total", "frozen"),
    Criterion("media_gap", "total", "without media"),
    Criterion("packet_loss", "overall", "packet loss"),
)


@dataclass(frozen=True)
class RankedStream:
    participant: ParticipantResult
    stream: StreamResult
    figures: dict[str, float | None]
    """Per criterion metric: the stream's figure, None when not measured."""
    rank: int = 0
    """Its best (lowest) place among the streams on any criterion: 0 is a worst one."""
    reason: str | None = None
    """The criterion metric that gave it that place."""


def _figures(values: MetricTable, participant: str, stream: str) -> dict[str, float | None]:
    found = values.values_of(participant, stream)
    return {
        c.metric: aggregate(found.get(c.metric, []), c.aggregate, METRICS[c.metric].quantity)
        for c in CRITERIA
    }


def rank_streams(result: RunResult, values: MetricTable) -> list[RankedStream]:
    """Every received stream, worst first: by its best place on any criterion (so the worst
    frame rate, the worst delay and the longest freeze all come first), then by the sum of
    its places. A place counts the streams strictly worse, so equal figures share it; the
    reason given is the criterion of its best place that it shares with the fewest."""
    streams = [
        RankedStream(p, s, _figures(values, p.name, s.stream_id))
        for p in result.participants
        for s in p.streams
        if s.direction is StreamDirection.VIEW
    ]
    places: list[dict[str, tuple[int, int]]] = [{} for _ in streams]
    for criterion in CRITERIA:
        measured = [
            (number, value if criterion.worse_low else -value)
            for number, one in enumerate(streams)
            if (value := one.figures[criterion.metric]) is not None
            and not (criterion.zero_is_fine and value <= 0)
        ]
        ordered = sorted(badness for _, badness in measured)
        for number, badness in measured:
            worse = bisect_left(ordered, badness)
            shared = bisect_right(ordered, badness) - worse
            places[number][criterion.metric] = (worse, shared)
    ranked: list[tuple[int, int, RankedStream, str | None]] = []
    for one, where in zip(streams, places, strict=True):
        if where:
            reason = min(where, key=lambda metric: where[metric])
            # Not ranked on a criterion (not measured, or nothing wrong): last there.
            total = sum(where.get(c.metric, (len(streams), 0))[0] for c in CRITERIA)
            ranked.append((where[reason][0], total, one, reason))
        else:
            ranked.append((len(streams), 0, one, None))
    ranked.sort(key=lambda item: (item[0], item[1]))
    return [
        RankedStream(one.participant, one.stream, one.figures, rank, reason)
        for rank, _, one, reason in ranked
    ]


def figure_cells(figures: dict[str, float | None], reason: str | None) -> list[str]:
    """The criteria's figures, formatted; the one that ranked the stream is marked."""
    cells = []
    for criterion in CRITERIA:
        value = figures[criterion.metric]
        text = (
            DASH
            if value is None
            else escape(format_quantity(value, METRICS[criterion.metric].quantity))
        )
        cells.append(f'<span class="worst">{text}</span>' if criterion.metric == reason else text)
    return cells


def render_worst(ranked: Sequence[RankedStream], shown: int = 20) -> str:
    """The `shown` worst streams, each linked to its participant's section."""
    if not ranked:
        return "<p>No received streams.</p>"
    rows = [
        (
            str(number + 1),
            f'<a href="#{anchor(one.participant.name)}">{escape(one.participant.name)}</a>',
            escape(one.participant.group),
            escape(one.stream.label),
            *figure_cells(one.figures, one.reason),
            str(one.stream.frames),
        )
        for number, one in enumerate(ranked[:shown])
    ]
    note = (
        f"<p>The {min(shown, len(ranked))} of {len(ranked)} received streams that rank worst on "
        "any of the columns (the marked figure put the stream here); a name opens the "
        "participant's section.</p>"
    )
    headers = ("#", "participant", "group", "stream", *(c.heading for c in CRITERIA), "frames")
    return note + table(headers, rows, {0, *range(4, 4 + len(CRITERIA) + 1)}, "worst-streams")
