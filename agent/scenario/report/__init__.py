"""The three reports of a run, written side by side into one directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agent.scenario.expect import Evaluation
from agent.scenario.model import Scenario
from agent.scenario.report.html import render_html
from agent.scenario.report.json_report import build_json, render_json
from agent.scenario.report.junit import render_junit
from agent.scenario.results import RunResult

__all__ = ["ReportPaths", "build_json", "write_reports"]


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
