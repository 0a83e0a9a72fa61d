"""The JUnit XML report: one test case per expectation, so CI shows which one failed."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from agent.scenario.expect import Evaluation
from agent.scenario.model import Scenario
from agent.scenario.results import RunResult

__all__ = ["render_junit"]


def render_junit(scenario: Scenario, result: RunResult, evaluation: Evaluation) -> str:
    failures = len(evaluation.failures)
    health = evaluation.load_generator
    errors = 0 if health.valid else 1
    tests = len(evaluation.expectations) + errors
    common = {"tests": str(tests), "failures": str(failures), "errors": str(errors)}
    suites = ET.Element("testsuites", {"name": "auvious-agent", **common})
    suite = ET.SubElement(
        suites,
        "testsuite",
        {
            "name": scenario.name,
            **common,
            "skipped": "0",
            "time": f"{result.duration:.3f}",
            "timestamp": result.started_at.replace(microsecond=0).isoformat(),
        },
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("file", scenario.path or ""),
        ("participants", str(len(result.participants))),
        ("interrupted", str(result.interrupted).lower()),
        ("load_generator", health.message),
    ):
        ET.SubElement(properties, "property", {"name": name, "value": value})
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
    if not health.valid:  # an error, not a failure: the run measured itself, not the platform
        case = ET.SubElement(
            suite, "testcase", {"classname": classname, "name": "load_generator", "time": "0"}
        )
        error = ET.SubElement(case, "error", {"message": health.message, "type": "invalid-run"})
        error.text = "\n".join([health.message, *health.headroom])
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode")
