"""From a finished run to the verdict: evaluate, write the reports, pick the exit code."""

from __future__ import annotations

from enum import IntEnum
from pathlib import Path
from typing import TextIO

from agent.scenario.compare import Baseline
from agent.scenario.expect import evaluate
from agent.scenario.model import Scenario
from agent.scenario.report import write_reports
from agent.scenario.results import RunResult

__all__ = ["ExitCode", "conclude"]


class ExitCode(IntEnum):
    """The CLI's exit codes, as the scenarios issue defines them."""

    PASSED = 0
    FAILED = 1
    INVALID = 2
    RUNTIME_ERROR = 3
    LOAD_GENERATOR_SATURATED = 4
    """The run is invalid: a process running participants was saturated (loop lag, CPU), so
    what it measured is the load generator, not the platform (`agent.scenario.health_verdict`)."""


def conclude(
    scenario: Scenario,
    result: RunResult,
    report_dir: Path,
    out: TextIO,
    baseline: Baseline | None = None,
) -> ExitCode:
    """Evaluate `result`, write the reports, print one line per failed expectation (and per
    regression against `baseline`).

    A run whose load generator was saturated is invalid whatever its expectations say; a
    run that regressed against its baseline fails even if every expectation holds."""
    evaluation = evaluate(scenario, result)
    paths = write_reports(scenario, result, evaluation, report_dir, baseline)
    total = len(evaluation.expectations)
    failed = evaluation.failures
    for expectation in failed:
        print(f"FAIL {expectation.name}: {expectation.message}", file=out)
    regressions = paths.comparison.regressions if paths.comparison is not None else []
    for regression in regressions:
        print(regression.message, file=out)
    health = evaluation.load_generator
    verdict = "PASS" if not failed else "FAIL"
    if not health.valid:
        verdict = "INVALID"
    print(f"{verdict} {scenario.name}: {total - len(failed)}/{total} expectations hold", file=out)
    if paths.comparison is not None:
        against = f"against the baseline {paths.comparison.baseline}"
        found = f"{len(regressions)} regression(s)" if regressions else "no regression"
        print(f"{found} {against} (compare.json: {paths.compare})", file=out)
    if health.measured:
        print(health.message, file=out)
    print(f"reports: {paths.html}  {paths.json}  {paths.junit}", file=out)
    if not health.valid:
        return ExitCode.LOAD_GENERATOR_SATURATED
    return ExitCode.PASSED if not failed and not regressions else ExitCode.FAILED
