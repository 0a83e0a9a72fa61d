"""The three reports of a run, written side by side into one directory."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from agent.scenario.expect import Evaluation
from agent.scenario.model import Scenario
from agent.scenario.report.html import render_html
from agent.scenario.report.json_report import build_json, render_json
from agent.scenario.report.junit import render_junit, render_junit_error
from agent.scenario.results import RunResult

__all__ = ["ReportPaths", "build_json", "write_error_report", "write_reports"]


@dataclass(frozen=True)
class ReportPaths:
    json: Path
    junit: Path
    html: Path


def write_reports(
    scenario: Scenario, result: RunResult, evaluation: Evaluation, directory: Path
) -> ReportPaths:
    """Write report.json, junit.xml and report.html into `directory` (created if needed)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = ReportPaths(
        directory / "report.json", directory / "junit.xml", directory / "report.html"
    )
    paths.json.write_text(render_json(scenario, result, evaluation), encoding="utf-8")
    paths.junit.write_text(render_junit(scenario, result, evaluation), encoding="utf-8")
    paths.html.write_text(render_html(scenario, result, evaluation), encoding="utf-8")
    return paths


def write_error_report(
    scenario: Scenario, message: str, started_at: datetime, directory: Path
) -> Path:
    """A run that could not start still leaves junit.xml (the file CI reads), with the cause;
    the JSON and HTML reports of an earlier run in `directory` are removed, not left to be
    mistaken for this one's."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in ("report.json", "report.html"):
        (directory / stale).unlink(missing_ok=True)
    junit = directory / "junit.xml"
    junit.write_text(render_junit_error(scenario, message, started_at), encoding="utf-8")
    return junit
