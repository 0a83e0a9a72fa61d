"""The JUnit XML report: one test case per expectation, so CI shows which one failed."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from agent.scenario.compare import Comparison
from agent.scenario.expect import Evaluation
from agent.scenario.model import Scenario
from agent.scenario.results import RunResult

__all__ = ["render_junit", "render_junit_error"]


def render_junit(
    scenario: Scenario,
    result: RunResult,
    evaluation: Evaluation,
    comparison: Comparison | None = None,
) -> str:
    """One test case per expectation; a `load_generator` case in error when the run is
    invalid; a `baseline` case when compared with one, failed on a regression."""
    health = evaluation.load_generator
    errors = 0 if health.valid else 1
    compared = 0 if comparison is None else 1
    regressed = 1 if comparison is not None and comparison.regressions else 0
    suites, suite = _suite(
        scenario,
        tests=len(evaluation.expectations) + errors + compared,
        failures=len(evaluation.failures) + regressed,
        errors=errors,
        time=result.duration,
        started_at=result.started_at,
        properties={
            "participants": str(len(result.participants)),
            "interrupted": str(result.interrupted).lower(),
            "load_generator": health.message,
        },
    )
    classname = f"scenario.{scenario.name}"
    for expectation in evaluation.expectations:
        case = ET.SubElement(
            suite, "testcase", {"classname": classname, "name": expectation.name, "time": "0"}
        )
        if not expectation.passed:
            kind = "condition" if expectation.metric is None else "threshold"
            failure = ET.SubElement(case, "failure", {"message": expectation.message, "type": kind})
            failure.text = "\n".join([expectation.message, *expectation.details])
        else:
            output = ET.SubElement(case, "system-out")
            output.text = expectation.message
    if comparison is not None:
        case = ET.SubElement(
            suite, "testcase", {"classname": classname, "name": "baseline", "time": "0"}
        )
        lines = [d.message for d in comparison.regressions]
        summary = f"{len(lines)} regression(s) against {comparison.baseline}"
        if lines:
            failure = ET.SubElement(case, "failure", {"message": summary, "type": "regression"})
            failure.text = "\n".join([summary, *lines])
        else:
            ET.SubElement(case, "system-out").text = f"no regression against {comparison.baseline}"
    if not health.valid:  # an error, not a failure: the run measured itself, not the platform
        case = ET.SubElement(
            suite, "testcase", {"classname": classname, "name": "load_generator", "time": "0"}
        )
        error = ET.SubElement(case, "error", {"message": health.message, "type": "invalid-run"})
        error.text = "\n".join([health.message, *health.headroom])
    return _document(suites)


def render_junit_error(scenario: Scenario, message: str, started_at: datetime) -> str:
    """A run that could not start (login refused, platform unreachable): one test case in
    error, so CI shows the cause where it shows the expectations of a run that did start."""
    suites, suite = _suite(
        scenario,
        tests=1,
        failures=0,
        errors=1,
        time=(datetime.now(UTC) - started_at).total_seconds(),
        started_at=started_at,
        properties={"participants": "0", "interrupted": "false"},
    )
    case = ET.SubElement(
        suite, "testcase", {"classname": f"scenario.{scenario.name}", "name": "run", "time": "0"}
    )
    error = ET.SubElement(case, "error", {"message": message, "type": "runtime"})
    error.text = message
    return _document(suites)


def _suite(
    scenario: Scenario,
    *,
    tests: int,
    failures: int,
    errors: int,
    time: float,
    started_at: datetime,
    properties: dict[str, str],
) -> tuple[ET.Element, ET.Element]:
    common = {"tests": str(tests), "failures": str(failures), "errors": str(errors)}
    suites = ET.Element("testsuites", {"name": "auvious-agent", **common})
    suite = ET.SubElement(
        suites,
        "testsuite",
        {
            "name": scenario.name,
            **common,
            "skipped": "0",
            "time": f"{time:.3f}",
            "timestamp": started_at.replace(microsecond=0).isoformat(),
        },
    )
    listed = ET.SubElement(suite, "properties")
    for name, value in {"file": scenario.path or "", **properties}.items():
        ET.SubElement(listed, "property", {"name": name, "value": value})
    return suites, suite


def _document(suites: ET.Element) -> str:
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode")
