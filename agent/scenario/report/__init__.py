"""The three reports of a run, written side by side into one directory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from agent.scenario.compare import Baseline, Comparison, write_comparison
from agent.scenario.expect import Evaluation
from agent.scenario.model import Scenario
from agent.scenario.report.html import render_html
from agent.scenario.report.json_report import build_json, dump_json
from agent.scenario.report.junit import render_junit, render_junit_error
from agent.scenario.report.samples_csv import render_samples_csv
from agent.scenario.results import RunResult

__all__ = [
    "LATEST",
    "ReportPaths",
    "build_json",
    "point_latest",
    "timestamped",
    "write_error_report",
    "write_reports",
]

LATEST = "latest"
"""The link in a scenario's report folder to its newest run."""


@dataclass(frozen=True)
class ReportPaths:
    json: Path
    junit: Path
    html: Path
    samples: Path
    compare: Path | None = None
    """compare.json, when the run was compared with a baseline."""
    comparison: Comparison | None = None


def write_reports(
    scenario: Scenario,
    result: RunResult,
    evaluation: Evaluation,
    directory: Path,
    baseline: Baseline | None = None,
) -> ReportPaths:
    """Write report.json, junit.xml, report.html and samples.csv into `directory` (created
    if needed); with a `baseline`, compare.json too, and the HTML report shows both runs.
    ValueError when the baseline cannot be compared with this run."""
    directory.mkdir(parents=True, exist_ok=True)
    document = build_json(scenario, result, evaluation)
    comparison = baseline.against(document) if baseline is not None else None
    paths = ReportPaths(
        directory / "report.json",
        directory / "junit.xml",
        directory / "report.html",
        directory / "samples.csv",
        directory / "compare.json" if comparison is not None else None,
        comparison,
    )
    paths.samples.write_text(render_samples_csv(result), encoding="utf-8")
    paths.json.write_text(dump_json(document), encoding="utf-8")
    junit = render_junit(scenario, result, evaluation, comparison)
    paths.junit.write_text(junit, encoding="utf-8")
    paths.html.write_text(render_html(scenario, result, evaluation, comparison), encoding="utf-8")
    if comparison is not None and paths.compare is not None:
        write_comparison(comparison, paths.json, paths.compare)
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


def timestamped(base: Path, started_at: datetime) -> Path:
    """A run's own folder under `base` (`reports/NAME/20261207-153012`), so the next run does
    not overwrite it; a second run in the same second gets a suffix."""
    stamp = started_at.strftime("%Y%m%d-%H%M%S")
    folder = base / stamp
    number = 1
    while folder.exists():
        number += 1
        folder = base / f"{stamp}-{number}"
    return folder


def point_latest(folder: Path) -> Path:
    """Point `latest` beside `folder` at it (a relative symlink, replaced atomically), so
    `reports/NAME/latest/report.html` is always the newest run."""
    link = folder.parent / LATEST
    temporary = folder.parent / f".{LATEST}.{os.getpid()}"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(folder.name, target_is_directory=True)
    os.replace(temporary, link)
    return link
