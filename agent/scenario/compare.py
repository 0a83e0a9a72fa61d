"""`auvious-agent compare BASELINE NEW`: a run against the last good one, metric by metric.

Reads two `report.json` files of the same scenario, compares the p50, p95 and overall figure
of every metric both measured, and calls a change a regression when the new run is worse by
more than the metric's tolerance (which way is worse follows the metric's unit: a rate, a
bitrate, a sound level or a quality score (PSNR, SSIM, MOS) may not drop, an A/V offset may
not move away from zero, anything else may not grow). An expectation that held in the baseline
and fails now is a regression too. The exit code makes it a CI gate: 0 none, 1 a regression,
2 the inputs cannot be compared."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agent.scenario.metrics import METRICS, Metric
from agent.scenario.units import Quantity, format_quantity, parse_bitrate, parse_duration

__all__ = [
    "COMPARED",
    "Baseline",
    "Comparison",
    "Difference",
    "Tolerance",
    "VerdictPair",
    "add_baseline_options",
    "add_compare_command",
    "chosen_baseline",
    "compare_reports",
    "load_baseline",
    "parse_tolerance",
    "read_report",
    "verdict_pairs",
    "write_comparison",
]

COMPARED = ("p50", "p95", "overall")
"""The aggregates compared: the typical value, the tail, and the pooled figure."""

_DEFAULT_FLOOR = {
    Quantity.TIME: 0.05,
    Quantity.RATE: 2.0,
    Quantity.RATIO: 0.005,
    Quantity.COUNT: 1.0,
    Quantity.BITRATE: 50_000.0,
    Quantity.LEVEL: 3.0,
    Quantity.SCORE: 0.2,
}
"""Changes smaller than this are noise on a shared machine, whatever the relative change."""

DEFAULT_RELATIVE = 0.2


@dataclass(frozen=True)
class Tolerance:
    """How much worse a figure may get: `relative` of the baseline or `absolute` (base units),
    whichever allows more."""

    relative: float = 0.0
    absolute: float = 0.0
    text: str = ""

    def allowed(self, baseline: float) -> float:
        return max(self.relative * abs(baseline), self.absolute)


def default_tolerance(quantity: Quantity) -> Tolerance:
    floor = _DEFAULT_FLOOR[quantity]
    text = f"{DEFAULT_RELATIVE:.0%} or {format_quantity(floor, quantity)}"
    return Tolerance(DEFAULT_RELATIVE, floor, text)


def _plain(text: str) -> float:
    return float(text)


def _level(text: str) -> float:
    """A level difference: "3dB" or "3"."""
    return float(text.removesuffix("dBFS").removesuffix("dB"))


_ABSOLUTE: dict[Quantity, Callable[[str], float]] = {
    Quantity.TIME: parse_duration,
    Quantity.RATE: _plain,
    Quantity.RATIO: _plain,
    Quantity.COUNT: _plain,
    Quantity.BITRATE: parse_bitrate,
    Quantity.LEVEL: _level,
    Quantity.SCORE: _plain,
}


def parse_tolerance(metric: str, text: str) -> Tolerance:
    """ "20%" (of the baseline) or an absolute amount in the metric's unit ("50ms", "2",
    "100k"; a ratio's absolute amount is a fraction: "0.01"). ValueError says which."""
    found = METRICS.get(metric)
    if found is None:
        raise ValueError(f"no metric named {metric!r} (there are: {', '.join(METRICS)})")
    value = text.strip()
    try:
        if value.endswith("%"):
            relative = float(value[:-1]) / 100.0
            if not math.isfinite(relative) or relative < 0:
                raise ValueError(value)
            return Tolerance(relative=relative, text=value)
        absolute = float(_ABSOLUTE[found.quantity](value))
    except ValueError:
        raise ValueError(
            f'tolerance {text!r} of {metric}: give a percentage of the baseline ("20%") or '
            f"an amount in its unit ({found.quantity})"
        ) from None
    if not math.isfinite(absolute) or absolute < 0:
        raise ValueError(f"tolerance {text!r} of {metric}: must be a finite amount >= 0")
    return Tolerance(absolute=absolute, text=value)


@dataclass(frozen=True)
class Difference:
    """One figure of both runs, or one expectation's verdicts."""

    metric: str
    aggregate: str
    baseline: float | None
    new: float | None
    tolerance: str
    regression: bool
    message: str


def _worse_by(metric: Metric, baseline: float, new: float) -> float:
    if metric.signed:  # the best is zero: further from it is worse, either side
        return abs(new) - abs(baseline)
    if metric.higher_is_better or metric.quantity in (
        Quantity.RATE,
        Quantity.BITRATE,
        Quantity.LEVEL,
        Quantity.SCORE,
    ):
        return baseline - new
    return new - baseline


def _figures(
    metric: str, base: Mapping[str, Any], new: Mapping[str, Any], tolerance: Tolerance | None
) -> list[Difference]:
    """The metric's compared figures; with no `tolerance` they are shown, never judged."""
    quantity = METRICS[metric].quantity
    text = tolerance.text if tolerance else ""
    found = []
    for name in COMPARED:
        before, after = base.get(name), new.get(name)
        if before is None:
            continue  # nothing to regress from
        fmt = Quantity.COUNT if quantity is Quantity.COUNT else quantity
        if after is None:
            message = (
                f"{metric} {name}: {format_quantity(before, fmt)} before, nothing measured now"
            )
            found.append(Difference(metric, name, before, None, text, bool(tolerance), message))
            continue
        change = f"{metric} {name}: {format_quantity(before, fmt)} -> {format_quantity(after, fmt)}"
        if tolerance is None:
            message, regression = f"{change} (not judged without a tolerance)", False
        else:
            worse = _worse_by(METRICS[metric], before, after)
            regression = worse > tolerance.allowed(before) + 1e-12
            verdict = "REGRESSION" if regression else "ok"
            message = f"{change} (tolerance {text}) {verdict}"
        found.append(Difference(metric, name, before, after, text, regression, message))
    return found


@dataclass(frozen=True)
class VerdictPair:
    """One expectation in both runs: what each measured and whether it held (None: the run
    had no such expectation)."""

    name: str
    baseline_passed: bool | None
    baseline_measured: str | None
    new_passed: bool | None
    new_measured: str | None
    message: str = ""

    @property
    def regression(self) -> bool:
        """It held in the baseline and fails now."""
        return self.baseline_passed is True and self.new_passed is False


def verdict_pairs(base: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[VerdictPair]:
    """Every expectation of either run, in the new run's order, then the baseline's others."""
    before = {e["name"]: e for e in base}
    after = {e["name"]: e for e in new}
    names = list(dict.fromkeys([*after, *before]))
    pairs = []
    for name in names:
        old, now = before.get(name, {}), after.get(name, {})
        pairs.append(
            VerdictPair(
                name,
                old.get("passed") if old else None,
                old.get("measured_text"),
                now.get("passed") if now else None,
                now.get("measured_text"),
                now.get("message", ""),
            )
        )
    return pairs


def _verdicts(base: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[Difference]:
    found = []
    for pair in verdict_pairs(base, new):
        if pair.regression:
            message = f"expectation {pair.name} held in the baseline and fails now: {pair.message}"
            found.append(Difference(pair.name, "verdict", None, None, "", True, message))
    return found


def compare_reports(
    baseline: Mapping[str, Any],
    new: Mapping[str, Any],
    tolerances: Mapping[str, Tolerance] | None = None,
) -> list[Difference]:
    """Every compared figure and every expectation that stopped holding. `tolerances`
    override the new report's (its scenario's `expect.tolerance`), which override the
    default (20% of the baseline, with a floor per unit)."""
    if baseline.get("scenario") != new.get("scenario"):
        raise ValueError(
            f"reports of different scenarios: {baseline.get('scenario')!r} and "
            f"{new.get('scenario')!r}"
        )
    chosen: dict[str, Tolerance] = {
        metric: parse_tolerance(metric, text)
        for metric, text in (new.get("tolerance") or {}).items()
    }
    chosen.update(tolerances or {})
    base_metrics, new_metrics = baseline.get("metrics", {}), new.get("metrics", {})
    found: list[Difference] = []
    for metric in METRICS:
        if metric not in base_metrics:
            continue
        tolerance = chosen.get(metric)
        if tolerance is None and METRICS[metric].compared_by_default:
            tolerance = default_tolerance(METRICS[metric].quantity)
        found += _figures(metric, base_metrics[metric], new_metrics.get(metric, {}), tolerance)
    found += _verdicts(baseline.get("expectations", []), new.get("expectations", []))
    return found


def read_report(path: Path) -> dict[str, Any]:
    """A run's report.json; ValueError says why `path` is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"{path}: {error.strerror}") from None
    except ValueError:
        raise ValueError(f"{path}: not JSON") from None
    if not isinstance(data, dict) or "metrics" not in data or "scenario" not in data:
        raise ValueError(f"{path}: not a run report (report.json)")
    return data


@dataclass(frozen=True)
class Comparison:
    """A run against its baseline: what the HTML report shows and compare.json holds."""

    baseline: str
    """Where the baseline report is."""
    baseline_started_at: str | None
    differences: list[Difference]
    verdicts: list[VerdictPair]

    @property
    def regressions(self) -> list[Difference]:
        return [d for d in self.differences if d.regression]

    def document(self, new: str) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "new": new,
            "regressions": len(self.regressions),
            "differences": [asdict(d) for d in self.differences],
        }


@dataclass(frozen=True)
class Baseline:
    """The last good run's report, to compare a run with as it ends (`run --baseline`)."""

    path: Path
    document: dict[str, Any]
    tolerances: Mapping[str, Tolerance]

    def against(self, new: Mapping[str, Any]) -> Comparison:
        """ValueError when the reports cannot be compared (another scenario)."""
        return Comparison(
            str(self.path),
            self.document.get("started_at"),
            compare_reports(self.document, new, self.tolerances),
            verdict_pairs(self.document.get("expectations", []), new.get("expectations", [])),
        )


def load_baseline(path: Path, scenario: str, tolerances: Mapping[str, Tolerance]) -> Baseline:
    """The baseline of a run about to start: checked now, not after a long run."""
    document = read_report(path)
    if document.get("scenario") != scenario:
        raise ValueError(
            f"{path}: the baseline is a report of {document.get('scenario')!r}, not {scenario!r}"
        )
    return Baseline(path, document, tolerances)


def chosen_baseline(args: argparse.Namespace, scenario: str) -> Baseline | None:
    """The `--baseline` of `run` or `merge`, read and checked before the work starts."""
    if args.baseline is None:
        return None
    return load_baseline(args.baseline, scenario, dict(args.tolerance))


def write_comparison(comparison: Comparison, new: Path, out: Path) -> None:
    document = comparison.document(str(new))
    out.write_text(json.dumps(document, indent=2, allow_nan=False), encoding="utf-8")


def _tolerance_option(text: str) -> tuple[str, Tolerance]:
    metric, equals, value = text.partition("=")
    if not equals:
        raise argparse.ArgumentTypeError(f"{text!r}: expected METRIC=TOLERANCE, e.g. delay=50ms")
    try:
        return metric.strip(), parse_tolerance(metric.strip(), value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _tolerance_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tolerance",
        type=_tolerance_option,
        action="append",
        default=[],
        metavar="METRIC=TOL",
        help='how much worse METRIC may get: "20%%" of the baseline, or an amount in its '
        "unit (delay=50ms, video_fps=3); repeatable; overrides the scenario's "
        "expect.tolerance",
    )


def add_baseline_options(parser: argparse.ArgumentParser) -> None:
    """`--baseline REPORT_JSON` and `--tolerance` of `run` and `merge`."""
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="REPORT_JSON",
        help="compare the run with this earlier report.json of the same scenario, as "
        "`compare` does: the HTML report shows both, compare.json lists the differences, "
        "and a regression fails the run (exit 1)",
    )
    _tolerance_argument(parser)


def add_compare_command(sub: Any) -> Callable[[argparse.Namespace], int]:
    compare = sub.add_parser(
        "compare",
        help="compare a run's report.json with a baseline's; exit 1 on a regression",
        description=(
            "Compare the p50, p95 and overall figure of every metric of NEW with BASELINE "
            "(two report.json files of the same scenario). Exit 0: no regression; 1: a "
            "figure got worse by more than its tolerance, or an expectation that held now "
            "fails; 2: the reports cannot be compared. The report.html beside NEW is "
            "written again with the baseline beside the run."
        ),
    )
    compare.add_argument("baseline", type=Path, metavar="BASELINE_REPORT")
    compare.add_argument("new", type=Path, metavar="NEW_REPORT")
    _tolerance_argument(compare)
    compare.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="where to write the differences as JSON (default: compare.json beside NEW)",
    )

    def run(args: argparse.Namespace) -> int:
        from agent.scenario.report.html import rerender_html

        try:
            new = read_report(args.new)
            baseline = Baseline(args.baseline, read_report(args.baseline), dict(args.tolerance))
            comparison = baseline.against(new)
        except ValueError as error:
            print(f"auvious-agent compare: {error}", file=sys.stderr)
            return 2
        for difference in comparison.differences:
            print(difference.message)
        regressions = comparison.regressions
        out = args.out or args.new.parent / "compare.json"
        write_comparison(comparison, args.new, out)
        verdict = f"REGRESSION: {len(regressions)}" if regressions else "no regression"
        print(f"{verdict} of {len(comparison.differences)} compared; written to {out}")
        html = args.new.parent / "report.html"
        if html.is_file():
            try:
                html.write_text(rerender_html(new, comparison), encoding="utf-8")
                print(f"report with the baseline: {html}")
            except ValueError as error:  # a report of another version: the verdict stands
                print(f"auvious-agent compare: {html} left as it was: {error}", file=sys.stderr)
        return 1 if regressions else 0

    return run
