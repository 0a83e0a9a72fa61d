"""`compare` on hand-made report figures (no run): which figures it judges by default."""

from __future__ import annotations

from typing import Any

from agent.scenario.compare import compare_reports, parse_tolerance


def _report(**metrics: float) -> dict[str, Any]:
    figures = {name: {"p50": v, "p95": v, "overall": v} for name, v in metrics.items()}
    return {"scenario": "s", "metrics": figures, "expectations": []}


def test_a_memory_slope_is_judged_only_with_a_tolerance_given_for_it() -> None:
    baseline, new = _report(memory_slope=782.0), _report(memory_slope=1089.0)
    shown = compare_reports(baseline, new)
    assert [d.regression for d in shown] == [False, False, False]
    assert "not judged without a tolerance" in shown[0].message
    judged = compare_reports(baseline, new, {"memory_slope": parse_tolerance("memory_slope", "50")})
    assert all(d.regression for d in judged)
    # The other drift figures keep the default tolerance.
    grown = compare_reports(_report(fds_growth=1.0), _report(fds_growth=5.0))
    assert any(d.regression for d in grown)
