"""Small SVG charts drawn in Python, so the HTML report needs no script, CDN or network."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

__all__ = [
    "Band",
    "Bar",
    "Series",
    "Shade",
    "TimelineRow",
    "band_chart",
    "histogram",
    "line_chart",
    "nice_ticks",
    "sparkline",
    "timeline",
]

PALETTE = (
    "#2563eb",
    "#dc2626",
    "#16a34a",
    "#d97706",
    "#7c3aed",
    "#0891b2",
    "#db2777",
    "#65a30d",
    "#475569",
    "#ea580c",
)
MAX_LEGEND = 16
Formatter = Callable[[float], str]


def _plain(value: float) -> str:
    return f"{value:g}"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering low..high (1, 2, 2.5 or 5 times a power of ten apart)."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


@dataclass(frozen=True)
class _Frame:
    """The plotting area of a chart and its scales."""

    width: int
    height: int
    x_ticks: list[float]
    y_ticks: list[float]
    left: int = 64
    right: int = 28  # room for the last x tick label
    top: int = 36
    bottom: int = 44

    @property
    def inner_width(self) -> float:
        return self.width - self.left - self.right

    @property
    def inner_height(self) -> float:
        return self.height - self.top - self.bottom

    def x(self, value: float) -> float:
        low, high = self.x_ticks[0], self.x_ticks[-1]
        return self.left + (value - low) / ((high - low) or 1.0) * self.inner_width

    def y(self, value: float) -> float:
        low, high = self.y_ticks[0], self.y_ticks[-1]
        return (
            self.top + self.inner_height - (value - low) / ((high - low) or 1.0) * self.inner_height
        )


X_LABEL_BELOW = 34
"""The x axis label's baseline below the axis (under the tick labels; a legend goes below)."""


def _open(width: int, height: int, title: str, css_class: str) -> list[str]:
    return [
        f'<svg class="chart {css_class}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{escape(title)}">',
        f'<text class="title" x="{width / 2:.0f}" y="20" text-anchor="middle">'
        f"{escape(title)}</text>",
    ]


def _axes(
    frame: _Frame, x_format: Formatter, y_format: Formatter, x_label: str, y_label: str
) -> list[str]:
    parts = []
    for tick in frame.y_ticks:
        y = frame.y(tick)
        parts.append(
            f'<line class="grid" x1="{frame.left}" y1="{y:.1f}" '
            f'x2="{frame.width - frame.right}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="tick" x="{frame.left - 6}" y="{y + 4:.1f}" '
            f'text-anchor="end">{escape(y_format(tick))}</text>'
        )
    base = frame.top + frame.inner_height
    for tick in frame.x_ticks:
        x = frame.x(tick)
        parts.append(f'<line class="axis" x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 4}"/>')
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{base + 16}" '
            f'text-anchor="middle">{escape(x_format(tick))}</text>'
        )
    parts.append(
        f'<line class="axis" x1="{frame.left}" y1="{base}" x2="{frame.width - frame.right}" '
        f'y2="{base}"/>'
    )
    parts.append(
        f'<text class="label" x="{frame.left + frame.inner_width / 2:.0f}" '
        f'y="{base + X_LABEL_BELOW}" text-anchor="middle">{escape(x_label)}</text>'
    )
    parts.append(
        f'<text class="label" transform="translate(14 {frame.top + frame.inner_height / 2:.0f}) '
        f'rotate(-90)" text-anchor="middle">{escape(y_label)}</text>'
    )
    return parts


def _empty(width: int, height: int, title: str, css_class: str, note: str) -> str:
    parts = _open(width, height, title, css_class)
    parts.append(
        f'<text class="empty" x="{width / 2:.0f}" y="{height / 2:.0f}" '
        f'text-anchor="middle">{escape(note)}</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


@dataclass(frozen=True)
class Shade:
    """A stretch of the time axis shaded behind the data, labelled at the top: a phase of the
    run, an impairment of the network, anything that explains what the lines do there."""

    start: float
    end: float
    label: str
    color: str = "#e0e7ff"


SHADE_COLORS = ("#e0e7ff", "#fef9c3")
"""Alternating tints for consecutive shades (phases), so neighbours stay apart."""


def _shades(frame: _Frame, shades: Sequence[Shade]) -> list[str]:
    """The shades clipped to the plotting area, drawn first so the data stays on top."""
    parts = []
    low, high = frame.left, frame.width - frame.right
    for shade in shades:
        x0 = min(max(frame.x(shade.start), low), high)
        x1 = min(max(frame.x(shade.end), low), high)
        if x1 - x0 < 0.5:
            continue
        parts.append(
            f'<rect class="shade" x="{x0:.1f}" y="{frame.top}" width="{x1 - x0:.1f}" '
            f'height="{frame.inner_height:.1f}" fill="{shade.color}">'
            f"<title>{escape(shade.label)}: {round(shade.start, 1):g}s to "
            f"{round(shade.end, 1):g}s</title></rect>"
        )
        if x1 - x0 >= 7 * len(shade.label) or x1 - x0 >= 60:
            parts.append(
                f'<text class="shade-label" x="{x0 + 3:.1f}" y="{frame.top + 11}">'
                f"{escape(shade.label)}</text>"
            )
    return parts


def _x_ticks(xs: Sequence[float], span: tuple[float, float] | None) -> list[float]:
    """Ticks over the data, or over `span` (the run: every time axis of a report alike)."""
    if span is not None:
        return nice_ticks(span[0], span[1], 8)
    return nice_ticks(min(xs), max(xs), 8)


LEGEND_CHAR = 6.5
"""Pixels per character of a legend label (11 px sans-serif), to keep labels apart."""


def legend_columns(width: float, entries: Sequence[tuple[str, str]]) -> int:
    """Three columns of legend entries, fewer when the longest label would run into the next."""
    longest = max((len(label) for _, label in entries[:MAX_LEGEND]), default=0)
    return max(1, min(3, int(width // (14 + LEGEND_CHAR * longest + 12))))


def legend_height(width: float, entries: Sequence[tuple[str, str]]) -> int:
    shown = min(len(entries), MAX_LEGEND + 1)
    return 16 * math.ceil(shown / legend_columns(width, entries))


def _legend(frame: _Frame, entries: Sequence[tuple[str, str]]) -> list[str]:
    """(colour, label) entries in three columns under the axis label; past MAX_LEGEND, a
    count of the rest."""
    parts = []
    top = frame.top + frame.inner_height + X_LABEL_BELOW + 20
    columns = legend_columns(frame.inner_width, entries)
    for number, (color, label) in enumerate(entries[:MAX_LEGEND]):
        x = frame.left + (number % columns) * (frame.inner_width / columns)
        y = top + 16 * (number // columns)
        parts.append(f'<rect x="{x:.0f}" y="{y - 9}" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text class="legend" x="{x + 14:.0f}" y="{y}">{escape(label)}</text>')
    if len(entries) > MAX_LEGEND:
        y = top + 16 * (MAX_LEGEND // columns)
        x = frame.left + (MAX_LEGEND % columns) * (frame.inner_width / columns)
        parts.append(
            f'<text class="legend" x="{x:.0f}" y="{y}">+{len(entries) - MAX_LEGEND} more</text>'
        )
    return parts


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[tuple[float, float]]


@dataclass(frozen=True)
class _Plot:
    """What a chart over time is: its size, title, kind and axis labels."""

    width: int
    height: int
    title: str
    css_class: str
    x_label: str
    y_label: str
    y_format: Formatter


def _time_axes(
    plot: _Plot,
    xs: Sequence[float],
    ys: Sequence[float],
    legend: Sequence[tuple[str, str]],
    shades: Sequence[Shade],
    x_span: tuple[float, float] | None,
) -> tuple[_Frame, list[str]]:
    """The frame of a chart over time (room below for its legend), opened with its shades
    and axes drawn: the data goes on top."""
    below = legend_height(plot.width - _Frame.left - _Frame.right, legend)
    frame = _Frame(
        plot.width,
        plot.height + below,
        _x_ticks(xs, x_span),
        nice_ticks(min(0.0, min(ys)), max(ys), 5),
        bottom=44 + below,
    )
    parts = _open(frame.width, frame.height, plot.title, plot.css_class)
    parts += _shades(frame, shades)
    parts += _axes(frame, _plain, plot.y_format, plot.x_label, plot.y_label)
    return frame, parts


def _in_time(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points in time order; those at the same time keep theirs (a step down stays one)."""
    return sorted(points, key=lambda point: point[0])


def _polyline(frame: _Frame, one: Series, css_class: str, color: str, stroke: float) -> str:
    points = " ".join(f"{frame.x(x):.1f},{frame.y(y):.1f}" for x, y in _in_time(one.points))
    return (
        f'<polyline class="{css_class}" fill="none" stroke="{color}" stroke-width="{stroke}" '
        f'points="{points}"><title>{escape(one.label)}</title></polyline>'
    )


def line_chart(
    series: Sequence[Series],
    title: str,
    x_label: str = "time (s)",
    y_label: str = "",
    y_format: Formatter = _plain,
    width: int = 760,
    height: int = 300,
    empty_note: str = "no samples",
    shades: Sequence[Shade] = (),
    x_span: tuple[float, float] | None = None,
) -> str:
    """One polyline per series over a shared time axis, with a legend.

    Series with the same label (one viewer's views of one publisher, republished under
    churn) share a colour and a legend entry; each stays its own line, so gaps show.
    `shades` are drawn behind the lines; `x_span` fixes the time axis (else the data's)."""
    drawn = [s for s in series if s.points]
    if not drawn:
        return _empty(width, height, title, "line-chart", empty_note)
    xs = [x for s in drawn for x, _ in s.points]
    ys = [y for s in drawn for _, y in s.points]
    labels = list(dict.fromkeys(s.label for s in drawn))
    colour = {label: PALETTE[number % len(PALETTE)] for number, label in enumerate(labels)}
    entries = [(colour[label], label) for label in labels]
    frame, parts = _time_axes(
        _Plot(width, height, title, "line-chart", x_label, y_label, y_format),
        xs,
        ys,
        entries,
        shades,
        x_span,
    )
    for one in drawn:
        parts.append(_polyline(frame, one, "series", colour[one.label], 1.6))
    parts += _legend(frame, entries)
    parts.append("</svg>")
    return "\n".join(parts)


@dataclass(frozen=True)
class Bar:
    low: float
    high: float
    count: int


def _bins(values: Sequence[float], low: float, high: float, count: int) -> list[Bar]:
    width = (high - low) / count
    counts = [0] * count
    for value in values:
        counts[min(max(int((value - low) / width), 0), count - 1)] += 1
    return [Bar(low + i * width, low + (i + 1) * width, n) for i, n in enumerate(counts)]


def histogram(
    values: Sequence[float],
    title: str,
    x_label: str = "",
    x_format: Formatter = _plain,
    bins: int | None = None,
    marks: Sequence[tuple[str, float]] = (),
    width: int = 760,
    height: int = 280,
) -> str:
    """How `values` are distributed, with vertical marks (p50, p95) on top."""
    if not values:
        return _empty(width, height, title, "histogram", "no values")
    x_ticks = nice_ticks(min(0.0, min(values)), max(values), 8)
    count = bins or max(10, min(40, 2 * math.ceil(math.sqrt(len(values)))))
    bars = _bins(values, x_ticks[0], x_ticks[-1], count)
    frame = _Frame(width, height, x_ticks, nice_ticks(0, max(bar.count for bar in bars), 4))
    parts = _open(width, height, title, "histogram")
    parts += _axes(frame, x_format, _plain, x_label, "participants")
    for bar in bars:
        x0, x1 = frame.x(bar.low), frame.x(bar.high)
        y = frame.y(bar.count)
        parts.append(
            f'<rect class="bar" x="{x0 + 1:.1f}" y="{y:.1f}" width="{max(x1 - x0 - 2, 1):.1f}" '
            f'height="{frame.y(0) - y:.1f}" fill="{PALETTE[0]}">'
            f"<title>{escape(x_format(bar.low))} to {escape(x_format(bar.high))}: "
            f"{bar.count}</title>"
            "</rect>"
        )
    for number, (label, value) in enumerate(marks):
        x = frame.x(value)
        color = PALETTE[(number + 1) % len(PALETTE)]
        parts.append(
            f'<line class="mark" x1="{x:.1f}" y1="{frame.top}" x2="{x:.1f}" '
            f'y2="{frame.y(0):.1f}" stroke="{color}" stroke-dasharray="4 3"/>'
        )
        right_half = x > frame.left + frame.inner_width / 2
        parts.append(
            f'<text class="legend" x="{x - 4 if right_half else x + 4:.1f}" '
            f'y="{frame.top + 12 + 14 * number}" text-anchor="{"end" if right_half else "start"}" '
            f'fill="{color}" stroke="#fff" stroke-width="3" paint-order="stroke">'
            f"{escape(label)} {escape(x_format(value))}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


@dataclass(frozen=True)
class TimelineRow:
    """One participant: present from `start` to `end`, in the conference during each of
    `stays` (from a join to its leave: a participant that churns has many)."""

    label: str
    start: float
    end: float
    stays: Sequence[tuple[float, float]] = field(default_factory=tuple)
    marks: Sequence[tuple[float, str]] = field(default_factory=tuple)
    failed: bool = False


MAX_ROWS = 200


def timeline(
    rows: Sequence[TimelineRow],
    title: str,
    duration: float,
    width: int = 760,
    shades: Sequence[Shade] = (),
) -> str:
    """A Gantt chart of participants: arrival to the end (light), each stay in the
    conference (solid), over `shades` (the phases)."""
    if not rows:
        return _empty(width, 120, title, "timeline", "no participants")
    shown = list(rows[:MAX_ROWS])
    row_height = 18 if len(shown) <= 40 else 8
    left = 120 if row_height > 10 else 24
    height = 36 + 44 + row_height * len(shown)
    frame = _Frame(
        width,
        height,
        nice_ticks(0.0, max(duration, max(r.end for r in shown)), 8),
        [0.0, float(len(shown))],
        left=left,
    )
    parts = _open(width, height, title, "timeline")
    parts += _shades(frame, shades)
    parts += _axes(frame, _plain, lambda _: "", "time (s)", "")
    for number, row in enumerate(shown):
        y = frame.top + number * row_height
        bar = row_height - 4
        if row_height > 10:
            parts.append(
                f'<text class="tick" x="{left - 6}" y="{y + bar - 2}" '
                f'text-anchor="end">{escape(row.label)}</text>'
            )
        x0, x1 = frame.x(row.start), frame.x(row.end)
        parts.append(
            f'<rect class="waiting" x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1):.1f}" '
            f'height="{bar}" fill="#cbd5e1"><title>{escape(row.label)}</title></rect>'
        )
        color = PALETTE[1] if row.failed else PALETTE[2]
        for joined, left_at in row.stays:
            xa, xb = frame.x(joined), frame.x(left_at)
            parts.append(
                f'<rect class="present" x="{xa:.1f}" y="{y}" width="{max(xb - xa, 1):.1f}" '
                f'height="{bar}" fill="{color}"><title>{escape(row.label)} in the conference '
                f"{joined:.1f}s to {left_at:.1f}s</title></rect>"
            )
        for t, label in row.marks:
            xm = frame.x(t)
            parts.append(
                f'<line class="event" x1="{xm:.1f}" y1="{y}" x2="{xm:.1f}" y2="{y + bar}" '
                f'stroke="#0f172a" stroke-width="2">'
                f"<title>{escape(label)} at {t:.1f}s</title></line>"
            )
    if len(rows) > MAX_ROWS:
        parts.append(
            f'<text class="legend" x="{left}" y="{height - 24}">'
            f"first {MAX_ROWS} of {len(rows)} participants</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


@dataclass(frozen=True)
class Band:
    """The spread of many streams over one stretch of time: their percentiles there."""

    start: float
    end: float
    p5: float
    p25: float
    p50: float
    p75: float
    p95: float
    count: int
    """How many streams had a value in this stretch."""

    @property
    def t(self) -> float:
        return (self.start + self.end) / 2


BAND_OUTER = "#bfdbfe"
BAND_INNER = "#60a5fa"
BAND_MEDIAN = "#1e3a8a"
HIGHLIGHTS = ("#dc2626", "#d97706", "#7c3aed")
"""The colours of the streams named over a band chart (the worst ones), none of them blue."""


def _runs(bands: Sequence[Band]) -> list[list[Band]]:
    """Consecutive stretches with data: a stretch with no stream leaves a gap, not a bridge."""
    runs: list[list[Band]] = []
    for band in bands:
        if runs and band.start <= runs[-1][-1].end + 1e-9:
            runs[-1].append(band)
        else:
            runs.append([band])
    return runs


def band_chart(
    bands: Sequence[Band],
    title: str,
    streams: int,
    highlights: Sequence[Series] = (),
    x_label: str = "time (s)",
    y_label: str = "",
    y_format: Formatter = _plain,
    width: int = 760,
    height: int = 300,
    empty_note: str = "no samples",
    shades: Sequence[Shade] = (),
    x_span: tuple[float, float] | None = None,
) -> str:
    """Many streams at a glance: p5-p95 and p25-p75 as shaded bands, p50 as a line, and the
    `highlights` (the worst streams, named) as their own lines on top, so a stream that fell
    out of the crowd can be attributed."""
    if not bands:
        return _empty(width, height, title, "band-chart", empty_note)
    drawn = [s for s in highlights if s.points]
    xs = [b.start for b in bands] + [b.end for b in bands] + [x for s in drawn for x, _ in s.points]
    ys = [b.p95 for b in bands] + [b.p5 for b in bands] + [y for s in drawn for _, y in s.points]
    legend = [
        (BAND_OUTER, f"p5-p95 of {streams} streams"),
        (BAND_INNER, "p25-p75"),
        (BAND_MEDIAN, "p50"),
    ] + [(HIGHLIGHTS[n % len(HIGHLIGHTS)], s.label) for n, s in enumerate(drawn)]
    frame, parts = _time_axes(
        _Plot(width, height, title, "band-chart", x_label, y_label, y_format),
        xs,
        ys,
        legend,
        shades,
        x_span,
    )

    def edge(run: Sequence[Band], value: Callable[[Band], float]) -> list[str]:
        points = []
        for band in run:
            y = frame.y(value(band))
            points += [f"{frame.x(band.start):.1f},{y:.1f}", f"{frame.x(band.end):.1f},{y:.1f}"]
        return points

    for run in _runs(bands):
        for low, high, color, name in (
            (lambda b: b.p5, lambda b: b.p95, BAND_OUTER, "p5-p95"),
            (lambda b: b.p25, lambda b: b.p75, BAND_INNER, "p25-p75"),
        ):
            outline = edge(run, high) + list(reversed(edge(run, low)))
            parts.append(
                f'<polygon class="band" fill="{color}" points="{" ".join(outline)}">'
                f"<title>{name} from {round(run[0].start, 1):g}s to {round(run[-1].end, 1):g}s"
                "</title></polygon>"
            )
        median = " ".join(f"{frame.x(b.t):.1f},{frame.y(b.p50):.1f}" for b in run)
        parts.append(
            f'<polyline class="median" fill="none" stroke="{BAND_MEDIAN}" stroke-width="1.8" '
            f'points="{median}"><title>p50</title></polyline>'
        )
    for number, one in enumerate(drawn):
        parts.append(_polyline(frame, one, "highlight", HIGHLIGHTS[number % len(HIGHLIGHTS)], 1.4))
    parts += _legend(frame, legend)
    parts.append("</svg>")
    return "\n".join(parts)


def sparkline(
    points: Sequence[tuple[float, float]],
    x_span: tuple[float, float],
    y_max: float,
    label: str,
    width: int = 180,
    height: int = 26,
    shades: Sequence[Shade] = (),
) -> str:
    """A word-sized line for a table cell: no axes, the run's time across, 0..`y_max` up
    (shared by every row, so rows compare); whole pixels keep hundreds of them light."""
    low, high = x_span
    x_scale = (width - 2) / ((high - low) or 1.0)
    y_scale = (height - 4) / (y_max or 1.0)
    parts = [
        f'<svg class="spark" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(label)}">'
    ]
    for shade in shades:
        x0 = 1 + (max(shade.start, low) - low) * x_scale
        x1 = 1 + (min(shade.end, high) - low) * x_scale
        if x1 > x0:
            parts.append(
                f'<rect x="{x0:.0f}" y="0" width="{x1 - x0:.0f}" height="{height}" '
                f'fill="{shade.color}"/>'
            )
    line = " ".join(
        f"{1 + (x - low) * x_scale:.0f},{height - 2 - min(y, y_max) * y_scale:.0f}"
        for x, y in _in_time(points)
    )
    parts.append(
        f'<polyline fill="none" stroke="{PALETTE[0]}" stroke-width="1.2" points="{line}">'
        f"<title>{escape(label)}</title></polyline></svg>"
    )
    return "".join(parts)
