"""The report's Baseline section: this run beside the last good one, expectation by
expectation and figure by figure, each regression flagged (`--baseline` or `compare`)."""

from __future__ import annotations

from html import escape

from agent.scenario.compare import COMPARED, Comparison, Difference, VerdictPair
from agent.scenario.metrics import METRICS
from agent.scenario.report.markup import DASH, badge, table
from agent.scenario.units import format_quantity

__all__ = ["BASELINE_CSS", "render_baseline"]

BASELINE_CSS = """
tr.regression td { background: #fef2f2; }
table.baseline small { color: #475569; margin-left: 4px; }
"""


def _held(passed: bool | None, measured: str | None) -> str:
    if passed is None:
        return DASH
    word = badge("PASS", "pass") if passed else badge("FAIL", "fail")
    return f"{word} {escape(measured or '')}"


def _verdicts(pairs: list[VerdictPair]) -> str:
    rows = []
    for pair in pairs:
        flag = badge("REGRESSION", "fail") if pair.regression else ""
        rows.append(
            (
                escape(pair.name),
                _held(pair.baseline_passed, pair.baseline_measured),
                _held(pair.new_passed, pair.new_measured),
                flag,
            )
        )
    return table(("expectation", "baseline", "this run", ""), rows, set())


def _cell(difference: Difference | None) -> str:
    """ "117ms → 317ms +171%" (the change marked when it is a regression); one figure when
    it did not move."""
    if difference is None or difference.baseline is None:
        return DASH
    quantity = METRICS[difference.metric].quantity
    before = format_quantity(difference.baseline, quantity)
    if difference.new is None:
        text = f"{escape(before)} → nothing measured"
    else:
        after = format_quantity(difference.new, quantity)
        if after == before:
            return escape(after)
        delta = difference.new - difference.baseline
        change = f" {delta / abs(difference.baseline):+.0%}" if difference.baseline else ""
        text = f"{escape(before)} → {escape(after)}<small>{escape(change)}</small>"
    return f'<span class="worst">{text}</span>' if difference.regression else text


def _figures(differences: list[Difference]) -> str:
    """One row per metric, its p50, p95 and overall side by side; regressed metrics first."""
    by_metric: dict[str, dict[str, Difference]] = {}
    for difference in differences:
        if difference.aggregate != "verdict":
            by_metric.setdefault(difference.metric, {})[difference.aggregate] = difference
    ordered = sorted(
        by_metric.items(), key=lambda item: not any(d.regression for d in item[1].values())
    )
    rows, marks = [], []
    for metric, figures in ordered:
        regressed = any(d.regression for d in figures.values())
        tolerance = next(iter(figures.values())).tolerance
        rows.append(
            (
                escape(metric),
                *(_cell(figures.get(name)) for name in COMPARED),
                escape(tolerance),
                badge("REGRESSION", "fail") if regressed else "ok",
            )
        )
        marks.append("regression" if regressed else None)
    headers = ("metric", *(f"{name}: baseline → this run" for name in COMPARED), "tolerance", "")
    return table(headers, rows, {1, 2, 3}, "baseline", marks)


def render_baseline(comparison: Comparison) -> str:
    regressions = comparison.regressions
    verdict = (
        badge(f"REGRESSION: {len(regressions)}", "fail")
        if regressions
        else badge("no regression", "pass")
    )
    started = (
        f" (started {escape(comparison.baseline_started_at)})"
        if comparison.baseline_started_at
        else ""
    )
    head = (
        f"<p>{verdict} against <code>{escape(comparison.baseline)}</code>{started}: "
        f"{len(regressions)} of {len(comparison.differences)} compared figures and verdicts "
        "got worse by more than their tolerance (p50, p95 and overall of every metric the "
        "baseline measured; a rate or bitrate may not drop, anything else may not grow).</p>"
    )
    return head + _verdicts(comparison.verdicts) + _figures(comparison.differences)
