"""The HTML report: one self-contained page (inline CSS and SVG, no script, no network)
that a person reads first: the verdict, what failed, then the plots."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from pydantic import ValidationError

from agent.scenario.compare import Comparison
from agent.scenario.expect import Evaluation, Expectation
from agent.scenario.health_verdict import assess
from agent.scenario.metrics import METRICS, percentile
from agent.scenario.model import Scenario
from agent.scenario.report.bands import MAX_LINES, outliers, percentile_bands
from agent.scenario.report.baseline import BASELINE_CSS, render_baseline
from agent.scenario.report.markup import anchor, badge, section, table, verdict
from agent.scenario.report.network import network_shades, render_network
from agent.scenario.report.people import (
    participant_sections,
    participants_over_time,
    timeline_row,
)
from agent.scenario.report.speech import SPEECH_CSS, render_speech
from agent.scenario.report.summary import MetricTable, metric_table
from agent.scenario.report.svg import (
    SHADE_COLORS,
    Series,
    Shade,
    band_chart,
    histogram,
    line_chart,
    timeline,
)
from agent.scenario.report.worst import rank_streams, render_worst
from agent.scenario.results import ProcessHealth, RunResult, Sample, StreamDirection
from agent.scenario.units import Quantity, format_quantity

__all__ = ["ReportHead", "render_html", "render_page", "rerender_html"]

_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #0f172a;
       margin: 0; background: #f1f5f9; }
header { padding: 20px 32px; background: #0f172a; color: #f8fafc; }
header h1 { margin: 0 0 4px; font-size: 22px; }
header .meta { color: #cbd5e1; }
main { padding: 16px 32px 48px; max-width: 1600px; }
section { background: #fff; border-radius: 8px; padding: 16px 20px; margin: 16px 0;
          box-shadow: 0 1px 2px rgba(15, 23, 42, .08); }
h2 { font-size: 16px; margin: 0 0 12px; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 999px; font-weight: 600;
         margin-left: 8px; font-size: 14px; vertical-align: middle; }
.pass { background: #dcfce7; color: #166534; }
.invalid { background: #fef3c7; color: #92400e; }
.banner { background: #fef3c7; color: #78350f; border: 2px solid #f59e0b; border-radius: 8px;
          padding: 12px 20px; margin: 16px 0; }
.banner b { font-size: 16px; }
.fail { background: #fee2e2; color: #991b1b; }
.figures { display: flex; gap: 24px; flex-wrap: wrap; }
.figure b { display: block; font-size: 22px; }
.figure span { color: #475569; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 10px; border-bottom: 1px solid #e2e8f0;
         vertical-align: top; }
th { color: #475569; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr));
          gap: 16px; align-items: start; }
svg.chart { width: 100%; height: auto; background: #fff; }
svg .title { font-size: 14px; font-weight: 600; fill: #0f172a; }
svg .tick, svg .legend { font-size: 11px; fill: #334155; }
svg .label { font-size: 12px; fill: #475569; }
svg .empty { font-size: 13px; fill: #94a3b8; }
svg .grid { stroke: #e2e8f0; }
svg .axis { stroke: #64748b; }
svg .shade-label { font-size: 10px; fill: #475569; }
span.worst { background: #fee2e2; color: #991b1b; padding: 0 4px; border-radius: 4px;
             font-weight: 600; }
details.page, details.participant { border-top: 1px solid #e2e8f0; padding: 6px 0; }
details.participant { margin-left: 16px; }
details > summary { cursor: pointer; }
details.participant[open] { background: #f8fafc; }
"""


def _expectations(expectations: Sequence[Expectation]) -> str:
    rows = [
        (
            verdict(e.passed),
            escape(e.name),
            escape(e.measured_text or ""),
            escape(e.threshold or ""),
            escape(e.message),
        )
        for e in expectations
    ]
    return table(("", "expectation", "measured", "threshold", "detail"), rows, set())


def _figures(result: RunResult, evaluation: Evaluation) -> str:
    participants = result.participants
    joined = sum(1 for p in participants if p.joined_at is not None)
    streams = sum(len(p.streams) for p in participants)
    errors = sum(len(p.errors) for p in participants) + len(result.errors)
    figures = [
        (str(len(participants)), "participants"),
        (str(joined), "joined"),
        (str(streams), "streams"),
        (str(errors), "errors"),
        (
            f"{len(evaluation.expectations) - len(evaluation.failures)}/"
            f"{len(evaluation.expectations)}",
            "expectations hold",
        ),
        (f"{result.duration:.1f}s", "duration"),
    ]
    if result.skipped_arrivals:
        figures.append((str(result.skipped_arrivals), "arrivals skipped (max_concurrent)"))
    return (
        '<div class="figures">'
        + "".join(
            f'<div class="figure"><b>{escape(v)}</b><span>{escape(k)}</span></div>'
            for v, k in figures
        )
        + "</div>"
    )


def _stream_series(result: RunResult, attribute: str, scale: float = 1.0) -> list[Series]:
    series = []
    for participant in result.participants:
        for stream in participant.streams:
            if stream.direction is not StreamDirection.VIEW:
                continue
            samples: list[Sample] = getattr(stream, attribute)
            if samples:
                label = f"{participant.name} {stream.label}"
                series.append(Series(label, [(s.t, s.value * scale) for s in samples]))
    return series


def _phases(result: RunResult) -> list[Shade]:
    """The run's phases, shaded on every time axis of the report."""
    return [
        Shade(phase.start, phase.end, phase.name, SHADE_COLORS[number % len(SHADE_COLORS)])
        for number, phase in enumerate(result.phases)
    ]


def _over_time(
    series: list[Series],
    what: str,
    y_label: str,
    worse_low: bool,
    shades: Sequence[Shade],
    span: tuple[float, float],
    empty_note: str = "no samples",
) -> str:
    """One line per received stream while there are few; past MAX_LINES, percentile bands
    with the worst three streams named on top."""
    streams = len({one.label for one in series if one.points})
    if streams <= MAX_LINES:
        return line_chart(
            series,
            f"{what} over time per received stream",
            y_label=y_label,
            empty_note=empty_note,
            shades=shades,
            x_span=span,
        )
    bands = percentile_bands(series, span)
    return band_chart(
        bands,
        f"{what} over time across {streams} received streams",
        streams,
        highlights=[
            Series(f"worst: {one.label}", one.points) for one in outliers(series, bands, worse_low)
        ],
        y_label=y_label,
        shades=shades,
        x_span=span,
    )


def _charts(result: RunResult) -> str:
    joins = [
        join_time
        for p in result.participants
        for _, _, join_time in p.presences(result.duration)
        if join_time is not None
    ]
    marks = [("p50", percentile(joins, 50)), ("p95", percentile(joins, 95))] if joins else []
    shades = _phases(result)
    span = (0.0, result.duration)
    charts = [
        histogram(
            joins,
            "Join time distribution",
            x_label="join time (every join)",
            x_format=lambda v: format_quantity(v, Quantity.TIME),
            marks=marks,
        ),
        line_chart(
            participants_over_time(result),
            "Participants over time",
            y_label="participants",
            empty_note="no participants",
            shades=shades,
            x_span=span,
        ),
        _over_time(_stream_series(result, "fps"), "Frame rate", "frames/s", True, shades, span),
        _over_time(
            _stream_series(result, "delay", 1000.0),
            "Delay",
            "delay (ms)",
            False,
            shades,
            span,
            empty_note="no samples: the delay needs a viewer with receive: {video: decode}",
        ),
        _over_time(
            _stream_series(result, "bitrate", 1e-3), "Bitrate", "kbit/s", True, shades, span
        ),
        _over_time(
            _stream_series(result, "jitter", 1000.0), "Jitter", "jitter (ms)", False, shades, span
        ),
        *[
            _over_time(series, what, y_label, worse_low, shades, span)
            for series, what, y_label, worse_low in (
                (_stream_series(result, "audio_level"), "Audio level", "dBFS", True),
                (_stream_series(result, "av_sync", 1000.0), "A/V offset", "sound late (ms)", False),
            )
            if series  # measured only when viewers decode audio: no empty plot otherwise
        ],
        timeline(
            [timeline_row(p, result.duration) for p in result.participants],
            "Participants timeline (grey: arrived, green: in the conference, red: had errors)",
            result.duration,
            shades=shades,
        ),
    ]
    return '<div class="charts">' + "\n".join(charts) + "</div>"


def _metrics(values: MetricTable, warmup: float) -> str:
    summaries = values.summaries()
    columns = ("count", "min", "p50", "p95", "p99", "max", "mean")
    rows = []
    for name, summary in summaries.items():
        quantity = METRICS[name].quantity
        cells = [escape(name), escape(str(quantity))]
        for column in columns:
            value = summary[column]
            if value is None:
                cells.append("&ndash;")
            elif column == "count":
                cells.append(f"{value:g}")
            else:
                cells.append(escape(format_quantity(value, quantity)))
        rows.append(cells)
    note = f"<p>Stream measurements within {warmup:g}s of each stream's start are not counted.</p>"
    return (note if warmup else "") + table(("metric", "unit", *columns), rows, set(range(2, 9)))


def _participants(result: RunResult) -> str:
    def when(value: float | None) -> str:
        return "&ndash;" if value is None else f"{value:.2f}s"

    rows = [
        (
            f'<a href="#{anchor(p.name)}">{escape(p.name)}</a>',
            escape(p.group),
            escape(p.conference or ""),
            when(p.arrived_at),
            escape(format_quantity(p.join_time, Quantity.TIME))
            if p.join_time is not None
            else "&ndash;",
            when(p.left_at),
            str(len(p.presences(result.duration))),
            str(sum(1 for s in p.streams if s.direction is StreamDirection.PUBLISH)),
            str(sum(1 for s in p.streams if s.direction is StreamDirection.VIEW)),
            str(len(p.errors)),
        )
        for p in result.participants
    ]
    headers = (
        "name",
        "group",
        "conference",
        "arrived",
        "first join time",
        "last left",
        "joins",
        "publishes",
        "views",
        "errors",
    )
    return table(headers, rows, set(range(3, 10)))


def _errors(result: RunResult) -> str:
    errors = [("run", e) for e in result.errors]
    errors += [(p.name, e) for p in result.participants for e in p.errors]
    if not errors:
        return "<p>No errors.</p>"
    rows = [
        (f"{e.t:.2f}s", escape(who), escape(e.step or ""), escape(e.message))
        for who, e in sorted(errors, key=lambda item: item[1].t)[:200]
    ]
    more = f"<p>… and {len(errors) - 200} more.</p>" if len(errors) > 200 else ""
    return table(("time", "who", "step", "error"), rows, {0}) + more


def _banner(evaluation: Evaluation) -> str:
    """Above everything: an invalid run's verdicts are about the load generator."""
    health = evaluation.load_generator
    if health.valid:
        return ""
    problems = "".join(f"<li>{escape(problem)}</li>" for problem in health.problems)
    return (
        '<div class="banner"><b>Invalid run: the load generator was the bottleneck.</b> '
        "The expectations below measured the load generator, not the platform: spread the "
        "participants over more processes or machines (--workers, --ray, --shard) or run "
        f"fewer, and run again.<ul>{problems}</ul></div>"
    )


def _load_generator(result: RunResult, evaluation: Evaluation) -> str:
    health = evaluation.load_generator
    if not health.measured:
        return f"<p>{escape(health.message)}.</p>"

    def ms(value: float) -> str:
        return f"{1000 * value:.1f} ms"

    def cores(value: float) -> str:
        return f"{100 * value:.0f}%"

    def count(value: int | None) -> str:
        return "n/a" if value is None else str(value)

    def row(h: ProcessHealth) -> tuple[str, ...]:
        pages = ", ".join(
            f"{page.participant} {cores(page.cpu_mean)} (max {cores(page.cpu_max)})"
            for page in h.pages
        )
        return (
            escape(f"{h.process} (pid {h.pid} on {h.host})"),
            ms(h.loop_lag_p50),
            ms(h.loop_lag_p99),
            ms(h.own_lag_p99),
            ms(h.loop_lag_max),
            "n/a" if h.cpu_wait_share is None else cores(h.cpu_wait_share),
            cores(h.cpu_mean),
            cores(h.cpu_max),
            cores(h.cpu_saturated_share),
            count(h.udp_socket_drops),
            escape(f"{count(h.host_udp_rcvbuf_errors)} / {count(h.host_udp_in_errors)}"),
            escape(pages),
        )

    figures = table(
        (
            "process",
            "loop lag p50",
            "p99",
            "p99 of its own",
            "max",
            "waiting for a CPU",
            "CPU mean",
            "CPU max",
            "time at ≥95% CPU",
            "UDP socket drops",
            "host UDP rcvbuf / in errors",
            "browser pages' CPU",
        ),
        [row(h) for h in result.health],
        set(range(1, 11)),
    )
    shades, span = _phases(result), (0.0, result.duration)
    cpu = [Series(f"CPU {h.process}", [(s.t, 100 * s.value) for s in h.cpu]) for h in result.health]
    lag = [
        Series(f"lag {h.process}", [(s.t, 1000 * s.value) for s in h.loop_lag])
        for h in result.health
    ]
    charts = (
        '<div class="charts">'
        + line_chart(cpu, "Load generator CPU", y_label="% of a core", shades=shades, x_span=span)
        + line_chart(
            lag, "Worst event-loop lag of each second", y_label="ms", shades=shades, x_span=span
        )
        + "</div>"
    )
    state = badge("headroom", "pass") if health.valid else badge("saturated", "invalid")
    warnings = "".join(f"<li>{escape(warning)}</li>" for warning in health.warnings)
    note = f"<p>The host was busy (figures may be distorted):</p><ul>{warnings}</ul>"
    head = f"<p>{state} {escape(health.message)}</p>"
    return head + (note if warnings else "") + figures + charts


@dataclass(frozen=True)
class ReportHead:
    """What the page says of the scenario: from the Scenario after a run, or from its
    report.json when `compare` writes the page again."""

    name: str
    path: str | None = None
    description: str | None = None
    warmup: float = 0.0

    @classmethod
    def of(cls, scenario: Scenario) -> ReportHead:
        warmup = scenario.expect.warmup if scenario.expect else 0.0
        return cls(scenario.name, scenario.path, scenario.description, warmup)


def render_html(
    scenario: Scenario,
    result: RunResult,
    evaluation: Evaluation,
    comparison: Comparison | None = None,
) -> str:
    return render_page(ReportHead.of(scenario), result, evaluation, comparison)


def rerender_html(document: Mapping[str, Any], comparison: Comparison | None) -> str:
    """The page of a run from its report.json alone (its raw result and verdicts), so
    `compare` can show the baseline in it. ValueError: not a report this version reads."""
    try:
        result = RunResult.model_validate(document["result"])
        expectations = [Expectation(**e) for e in document.get("expectations", [])]
    except (KeyError, TypeError, ValidationError) as error:
        raise ValueError(f"the report's raw result cannot be read: {error}") from None
    head = ReportHead(
        str(document.get("scenario", result.scenario)),
        document.get("file"),
        document.get("description"),
        float(document.get("warmup") or 0.0),
    )
    return render_page(head, result, Evaluation(expectations, assess(result.health)), comparison)


def render_page(
    head: ReportHead,
    result: RunResult,
    evaluation: Evaluation,
    comparison: Comparison | None = None,
) -> str:
    word = "PASS" if evaluation.passed else "FAIL"
    if not evaluation.load_generator.valid:
        word = "INVALID"
    regressed = comparison is not None and bool(comparison.regressions)
    if regressed:
        word += ", REGRESSION"
    title = f"{head.name}: {word}"
    meta = f"started {result.started_at:%Y-%m-%d %H:%M:%S %Z} · {result.duration:.1f}s"
    if head.path:
        meta = f"{head.path} · {meta}"
    if result.interrupted:
        meta += " · interrupted"
    speech = render_speech(result)
    network = render_network(result)
    values = metric_table(result, head.warmup)
    ranked = rank_streams(result, values)
    body = "\n".join(
        [
            _banner(evaluation),
            section("Summary", _figures(result, evaluation)),
            section("Expectations", _expectations(evaluation.expectations)),
            *(
                [section("Baseline", render_baseline(comparison), "baseline")]
                if comparison is not None
                else []
            ),
            section("Plots", _charts(result), "plots"),
            section("Worst streams", render_worst(ranked), "worst-streams"),
            section("Metrics", _metrics(values, head.warmup)),
            *([section("Network and quality", network, "network")] if network else []),
            *([section("Speech", speech)] if speech is not None else []),
            section("Load generator", _load_generator(result, evaluation)),
            section("Participants", _participants(result)),
            section(
                "Participant details",
                participant_sections(result, ranked, _phases(result), network_shades),
                "participant-details",
            ),
            section("Errors", _errors(result)),
        ]
    )
    description = f"<p>{escape(head.description)}</p>" if head.description else ""
    flag = f" {badge('REGRESSION', 'fail')}" if regressed else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{_CSS}{SPEECH_CSS}{BASELINE_CSS}</style>
</head>
<body>
<header><h1>{escape(head.name)} {verdict(evaluation.passed)}{flag}</h1>
<div class="meta">{escape(meta)}</div>{description}</header>
<main>
{body}
</main>
</body>
</html>
"""
