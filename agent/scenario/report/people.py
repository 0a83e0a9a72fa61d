"""The report's view of participants at scale: how many were there over time, and one
collapsed section per participant (its timeline, its streams with a frame-rate sparkline
each, its errors), paged so a page of hundreds of participants stays small and quick to
open."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from html import escape

from agent.scenario.report.markup import DASH, anchor, badge, table
from agent.scenario.report.svg import Series, Shade, TimelineRow, nice_ticks, sparkline
from agent.scenario.report.worst import CRITERIA, RankedStream, figure_cells
from agent.scenario.results import ParticipantResult, RunResult, StreamDirection, StreamResult
from agent.scenario.units import Quantity, format_quantity

__all__ = ["PAGE", "participant_sections", "participants_over_time", "timeline_row"]

PAGE = 50
"""Participants per collapsed page of the per-participant sections."""

MAX_SPARK = 60
"""Points per sparkline at most: its shape at 180 px, light at hundreds of streams."""

MAX_STREAMS = 12
"""Streams listed in a participant's section: its published ones and its worst received
ones (a participant of a 200-person meeting views 199; samples.csv has them all)."""

MAX_ERRORS = 20
"""Errors listed in a participant's section (the Errors section and report.json have all)."""


def _steps(changes: Iterable[tuple[float, int]], end: float, label: str) -> Series:
    """A count over time from (time, +1 or -1) changes, drawn as steps."""
    points = [(0.0, 0.0)]
    count = 0
    for t, delta in sorted(changes):
        points.append((t, float(count)))
        count += delta
        points.append((t, float(count)))
    points.append((end, float(count)))
    return Series(label, points)


def participants_over_time(result: RunResult) -> list[Series]:
    """Two step lines: participants that had arrived (and not yet left the run), and those in
    a conference; the gap between them is joining or rejoining."""
    end = result.duration
    arrived: list[tuple[float, int]] = []
    present: list[tuple[float, int]] = []
    for participant in result.participants:
        arrived.append((participant.arrived_at, 1))
        if participant.left_at is not None and participant.left_at < end:
            arrived.append((participant.left_at, -1))
        for joined, left, _ in participant.presences(end):
            present.append((joined, 1))
            if left < end:
                present.append((left, -1))
    return [_steps(arrived, end, "arrived"), _steps(present, end, "in a conference")]


def timeline_row(participant: ParticipantResult, end: float) -> TimelineRow:
    return TimelineRow(
        participant.name,
        participant.arrived_at,
        participant.left_at if participant.left_at is not None else end,
        [(joined, left) for joined, left, _ in participant.presences(end)],
        [(r.t, "snapshot request") for r in participant.snapshots]
        + [(e.t, f"error: {e.message}") for e in participant.errors],
        failed=bool(participant.errors),
    )


def _events(participant: ParticipantResult, end: float) -> str:
    """Its timeline as text: arrival, each stay, each error (the first MAX_ERRORS). It
    carries the section's id: a link to it opens the closed `<details>` around it (a
    browser opens a fragment target's closed ancestors, not the target itself)."""
    events = [(participant.arrived_at, "arrived")]
    for joined, left, join_time in participant.presences(end):
        took = f" (join {format_quantity(join_time, Quantity.TIME)})" if join_time else ""
        events.append((joined, f"joined{took}"))
        if left < end:
            events.append((left, "left"))
    errors = participant.errors
    events += [(e.t, f"error in {e.step or 'run'}: {e.message}") for e in errors[:MAX_ERRORS]]
    items = "".join(
        f'<li class="{"error" if text.startswith("error") else "event"}">'
        f"<b>{t:.1f}s</b> {escape(text)}</li>"
        for t, text in sorted(events, key=lambda event: event[0])
    )
    more = (
        f"<li>… and {len(errors) - MAX_ERRORS} more errors</li>" if len(errors) > MAX_ERRORS else ""
    )
    return f'<ol class="events" id="{anchor(participant.name)}">{items}{more}</ol>'


Ranks = Mapping[tuple[str, str], tuple[int, RankedStream]]
"""(participant, stream id) -> the stream's position in the worst-first list, and its figures."""


def _streams(
    participant: ParticipantResult,
    ranked: Ranks,
    span: tuple[float, float],
    fps_max: float,
    shades: Sequence[Shade],
) -> str:
    def when(value: float | None) -> str:
        return DASH if value is None else f"{value:.1f}s"

    def order(stream: StreamResult) -> tuple[int, int]:
        if stream.direction is StreamDirection.PUBLISH:
            return (0, 0)
        return (1, ranked.get((participant.name, stream.stream_id), (len(ranked), None))[0])

    listed = sorted(participant.streams, key=order)
    rows = []
    for stream in listed[:MAX_STREAMS]:
        position = ranked.get((participant.name, stream.stream_id))
        found = position[1] if position is not None else None
        figures = figure_cells(found.figures, None) if found is not None else [DASH] * len(CRITERIA)
        fps = (
            sparkline(
                [(s.t, s.value) for s in stream.fps[:: -(-len(stream.fps) // MAX_SPARK)]],
                span,
                fps_max,
                f"{participant.name} {stream.label} frame rate",
                shades=shades,
            )
            if stream.fps
            else DASH
        )
        rows.append(
            (
                escape(stream.label),
                when(stream.started_at),
                when(stream.ended_at),
                fps,
                str(stream.frames),
                str(stream.packets_received),
                str(stream.packets_lost),
                *figures,
            )
        )
    headers = (
        "stream",
        "from",
        "to",
        f"frame rate (0 to {fps_max:g}/s)",
        "frames",
        "packets",
        "lost",
        *(c.heading for c in CRITERIA),
    )
    more = len(listed) - MAX_STREAMS
    note = f"<p>… and {more} more streams, better than these (samples.csv has them).</p>"
    return table(headers, rows, {1, 2, *range(4, 7 + len(CRITERIA))}) + (note if more > 0 else "")


def _section(
    participant: ParticipantResult,
    result: RunResult,
    ranked: Ranks,
    fps_max: float,
    shades: Sequence[Shade],
) -> str:
    end = result.duration
    first = (
        format_quantity(participant.join_time, Quantity.TIME)
        if participant.join_time is not None
        else "never joined"
    )
    errors = participant.errors
    flag = f" {badge(f'{len(errors)} errors', 'fail')}" if errors else ""
    summary = (
        f"<b>{escape(participant.name)}</b> {escape(participant.group)}"
        f"{' · ' + escape(participant.conference) if participant.conference else ''}"
        f" · join {escape(first)} · {len(participant.presences(end))} join(s)"
        f" · {len(participant.streams)} stream(s){flag}"
    )
    streams = _streams(participant, ranked, (0.0, end), fps_max, shades)
    return (
        '<details class="participant">'
        f"<summary>{summary}</summary>{_events(participant, end)}{streams}</details>"
    )


def participant_sections(
    result: RunResult,
    ranked: Sequence[RankedStream],
    shades: Sequence[Shade] = (),
    own_shades: Callable[[ParticipantResult, float], Sequence[Shade]] | None = None,
) -> str:
    """One collapsed section per participant, in collapsed pages of PAGE; a link to
    `#p-NAME` opens the page and the section, with no script. `own_shades` adds a
    participant's own stretches (its impairment schedule) to the run's `shades`."""
    people = result.participants
    if not people:
        return "<p>No participants.</p>"
    by_stream = {
        (one.participant.name, one.stream.stream_id): (position, one)
        for position, one in enumerate(ranked)
    }
    rates = [s.value for p in people for stream in p.streams for s in stream.fps]
    fps_max = max(nice_ticks(0.0, max(rates, default=1.0), 4)[-1], 1.0)
    end = result.duration
    sections = [
        _section(
            p, result, by_stream, fps_max, [*shades, *(own_shades(p, end) if own_shades else ())]
        )
        for p in people
    ]
    if len(people) <= PAGE:
        return "".join(sections)
    pages = []
    for start in range(0, len(sections), PAGE):
        chunk = people[start : start + PAGE]
        title = f"{start + 1} to {start + len(chunk)}: {chunk[0].name} … {chunk[-1].name}"
        pages.append(
            f'<details class="page"><summary>participants {escape(title)}</summary>'
            f"{''.join(sections[start : start + PAGE])}</details>"
        )
    return "".join(pages)
