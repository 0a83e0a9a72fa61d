"""`auvious-agent compare BASELINE NEW`: a run against the last good one, metric by metric.

Reads two `report.json` files of the same scenario, compares the p50, p95 and overall figure
of every metric both measured, and calls a change a regression when the new run is worse by
more than the metric's tolerance (which way is worse follows the metric's unit: a rate, a
bitrate or a sound level may not drop, an A/V offset may not move away from zero, anything
else may not grow). An expectation that held in the baseline
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
    "Difference",
    "Tolerance",
    "add_compare_command",
    "compare_reports",
    "parse_tolerance",
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
    if metric.quantity in (Quantity.RATE, Quantity.BITRATE, Quantity.LEVEL):
        return baseline - new
    return new - baseline


def _figures(
    metric: str, base: Mapping[str, Any], new: Mapping[str, Any], tolerance: Tolerance
) -> list[Difference]:
    quantity = METRICS[metric].quantity
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
            found.append(Difference(metric, name, before, None, tolerance.text, True, message))
            continue
        worse = _worse_by(METRICS[metric], before, after)
        allowed = tolerance.allowed(before)
        regression = worse > allowed + 1e-12
        verdict = "REGRESSION" if regression else "ok"
        message = (
            f"{metric} {name}: {format_quantity(before, fmt)} -> {format_quantity(after, fmt)} "
            f"(tolerance {tolerance.text}) {verdict}"
        )
        found.append(Difference(metric, name, before, after, tolerance.text, regression, message))
    return found


def _verdicts(base: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[Difference]:
    held = {e["name"] for e in base if e.get("passed")}
    found = []
    for expectation in new:
        if expectation["name"] in held and not expectation.get("passed"):
            message = (
                f"expectation {expectation['name']} held in the baseline and fails now: "
                f"{expectation.get('message', '')}"
            )
            found.append(Difference(expectation["name"], "verdict", None, None, "", True, message))
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
        tolerance = chosen.get(metric) or default_tolerance(METRICS[metric].quantity)
        found += _figures(metric, base_metrics[metric], new_metrics.get(metric, {}), tolerance)
    found += _verdicts(baseline.get("expectations", []), new.get("expectations", []))
    return found


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"{path}: {error.strerror}") from None
    except ValueError:
        raise ValueError(f"{path}: not JSON") from None
    if not isinstance(data, dict) or "metrics" not in data or "scenario" not in data:
        raise ValueError(f"{path}: not a run report (report.json)")
    return data


def _tolerance_option(text: str) -> tuple[str, Tolerance]:
    metric, equals, value = text.partition("=")
    if not equals:
        raise argparse.ArgumentTypeError(f"{text!r}: expected METRIC=TOLERANCE, e.g. delay=50ms")
    try:
        return metric.strip(), parse_tolerance(metric.strip(), value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_compare_command(sub: Any) -> Callable[[argparse.Namespace], int]:
    compare = sub.add_parser(
        "compare",
        help="compare a run's report.json with a baseline's; exit 1 on a regression",
        description=(
            "Compare the p50, p95 and overall figure of every metric of NEW with BASELINE "
            "(two report.json files of the same scenario). Exit 0: no regression; 1: a "
            "figure got worse by more than its tolerance, or an expectation that held now "
            "fails; 2: the reports cannot be compared."
        ),
    )
    compare.add_argument("baseline", type=Path, metavar="BASELINE_REPORT")
    compare.add_argument("new", type=Path, metavar="NEW_REPORT")
    compare.add_argument(
        "--tolerance",
        type=_tolerance_option,
        action="append",
        default=[],
        metavar="METRIC=TOL",
        help='how much worse METRIC may get: "20%%" of the baseline, or an amount in its '
        "unit (delay=50ms, video_fps=3); repeatable; overrides the scenario's "
        "expect.tolerance",
    )
    compare.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="where to write the differences as JSON (default: compare.json beside NEW)",
    )

    def run(args: argparse.Namespace) -> int:
        try:
            differences = compare_reports(
                _read(args.baseline), _read(args.new), dict(args.tolerance)
            )
        except ValueError as error:
            print(f"auvious-agent compare: {error}", file=sys.stderr)
            return 2
        for difference in differences:
            print(difference.message)
        regressions = [d for d in differences if d.regression]
        out = args.out or args.new.parent / "compare.json"
        document = {
            "baseline": str(args.baseline),
            "new": str(args.new),
            "regressions": len(regressions),
            "differences": [asdict(d) for d in differences],
        }
        out.write_text(json.dumps(document, indent=2, allow_nan=False), encoding="utf-8")
        verdict = f"REGRESSION: {len(regressions)}" if regressions else "no regression"
        print(f"{verdict} of {len(differences)} compared; written to {out}")
        return 1 if regressions else 0

    return run
