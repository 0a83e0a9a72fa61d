"""Small SVG charts drawn in Python, so the HTML report needs no script, CDN or network."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html import escape

__all__ = ["Bar", "Series", "TimelineRow", "histogram", "line_chart", "nice_ticks", "timeline"]

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
class Series:
    label: str
    points: Sequence[tuple[float, float]]


def line_chart(
    series: Sequence[Series],
    title: str,
    x_label: str = "time (s)",
    y_label: str = "",
    y_format: Formatter = _plain,
    width: int = 760,
    height: int = 300,
    empty_note: str = "no samples",
) -> str:
    """One polyline per series over a shared time axis, with a legend.

    Series with the same label (one viewer's views of one publisher, republished under
    churn) share a colour and a legend entry; each stays its own line, so gaps show."""
    drawn = [s for s in series if s.points]
    if not drawn:
        return _empty(width, height, title, "line-chart", empty_note)
    xs = [x for s in drawn for x, _ in s.points]
    ys = [y for s in drawn for _, y in s.points]
    labels = list(dict.fromkeys(s.label for s in drawn))
    colour = {label: PALETTE[number % len(PALETTE)] for number, label in enumerate(labels)}
    legend_rows = min(len(labels), MAX_LEGEND + 1)
    legend_height = 16 * math.ceil(legend_rows / 3)
    frame = _Frame(
        width,
        height + legend_height,
        nice_ticks(min(xs), max(xs), 8),
        nice_ticks(min(0.0, min(ys)), max(ys), 5),
        bottom=44 + legend_height,
    )
    parts = _open(frame.width, frame.height, title, "line-chart")
    parts += _axes(frame, _plain, y_format, x_label, y_label)
    for one in drawn:
        color = colour[one.label]
        points = " ".join(f"{frame.x(x):.1f},{frame.y(y):.1f}" for x, y in sorted(one.points))
        parts.append(
            f'<polyline class="series" fill="none" stroke="{color}" stroke-width="1.6" '
            f'points="{points}"><title>{escape(one.label)}</title></polyline>'
        )
    legend_top = frame.top + frame.inner_height + X_LABEL_BELOW + 20  # under the axis label
    for number, label in enumerate(labels[:MAX_LEGEND]):
        x = frame.left + (number % 3) * (frame.inner_width / 3)
        y = legend_top + 16 * (number // 3)
        parts.append(
            f'<rect x="{x:.0f}" y="{y - 9}" width="10" height="10" fill="{colour[label]}"/>'
        )
        parts.append(f'<text class="legend" x="{x + 14:.0f}" y="{y}">{escape(label)}</text>')
    if len(labels) > MAX_LEGEND:
        y = legend_top + 16 * (MAX_LEGEND // 3)
        x = frame.left + (MAX_LEGEND % 3) * (frame.inner_width / 3)
        parts.append(
            f'<text class="legend" x="{x:.0f}" y="{y}">+{len(labels) - MAX_LEGEND} more</text>'
        )
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


def timeline(rows: Sequence[TimelineRow], title: str, duration: float, width: int = 760) -> str:
    """A Gantt chart of participants: arrival to the end (light), each stay in the
    conference (solid)."""
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
