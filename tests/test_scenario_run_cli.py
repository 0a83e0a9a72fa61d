"""`auvious-agent run` as the user runs it (a subprocess, the embedded platform), and every
example scenario of `scenarios/` run on the embedded platform.

The examples last 20-85 s as written; they run here with `--time-scale` (every time of the
file multiplied, timeouts not) so the file stays within a few minutes on a shared machine.
Scaled down, calls are seconds long, so their own thresholds (e.g. churn's 16 joins) are
not what is checked here: the run completes, everyone joins, nothing is left open."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from agent.scenario.expect import evaluate
from agent.scenario.loader import load_scenario
from agent.scenario.progress import Progress, ProgressView
from agent.scenario.report import write_reports
from agent.scenario.runner import RunOptions, ScenarioRun

ROOT = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).parent / "auvious-agent"
RUN_TIMEOUT = 120


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), "run", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=RUN_TIMEOUT,
        env={**os.environ},
    )


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout + result.stderr, result.stderr


def reports_in(directory: Path) -> dict[str, object]:
    for name in ("report.json", "junit.xml", "report.html"):
        assert (directory / name).is_file(), f"{name} not written"
    report: dict[str, object] = json.loads((directory / "report.json").read_text())
    return report


@pytest.mark.serial  # a run is invalid when its own event loop lags
def test_the_two_party_example_passes_and_writes_three_reports(tmp_path: Path) -> None:
    report = tmp_path / "two-party"
    result = run_cli(
        "scenarios/two-party-call.yaml", "--report", str(report), "--time-scale", "0.4"
    )
    no_traceback(result)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS two-party-call" in result.stdout
    data = reports_in(report)
    assert data["passed"] is True and data["interrupted"] is False
    # Not a terminal: plain progress lines, no in-place redraws.
    assert "two-party-call:" in result.stdout and "\r" not in result.stdout


IMPOSSIBLE = """
name: impossible
duration: 3s
participants:
  - name: agent
    publish: [{type: CAM, resolution: 320x180, fps: 15}]
  - name: customer
    role: customer
expect:
  video_fps: {min: "> 1000"}
  conditions: [every_participant_joined]
"""


def test_an_expectation_that_cannot_hold_exits_1_and_junit_names_it(tmp_path: Path) -> None:
    path = tmp_path / "impossible.yaml"
    path.write_text(IMPOSSIBLE, encoding="utf-8")
    report = tmp_path / "report"
    result = run_cli(str(path), "--report", str(report))
    no_traceback(result)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL video_fps min > 1000" in result.stdout
    reports_in(report)
    suite = ET.parse(report / "junit.xml").getroot()
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    failed = [name for name, case in cases.items() if case.find("failure") is not None]
    assert failed == ["video_fps min > 1000"]
    assert cases["every_participant_joined"].find("failure") is None


def test_ctrl_c_leaves_everyone_and_still_reports(tmp_path: Path) -> None:
    report = tmp_path / "interrupted"
    process = subprocess.Popen(
        [str(CLI), "run", "scenarios/two-party-call.yaml", "--report", str(report)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + RUN_TIMEOUT
        for line in process.stdout:  # progress lines come every few seconds
            if "joined 2/2" in line or time.monotonic() > deadline:
                break
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=RUN_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
    assert "Traceback" not in out + err, err
    assert process.returncode == 1, out + err
    assert "interrupted" in out
    data = reports_in(report)
    assert data["interrupted"] is True


EXAMPLES = {
    # file: time scale (each run lasts about 8-15 s)
    "two-party-call.yaml": 0.3,
    "webinar.yaml": 0.2,
    "snapshot-and-camera.yaml": 0.5,
    "churn.yaml": 0.15,
    "ramp-load.yaml": 0.2,
    "recording.yaml": 0.5,
    "bad-network.yaml": 0.3,
}


BROWSER_EXAMPLES = {"browser-and-agents.yaml"}
"""Run with Chromium by tests/test_scenario_browser.py."""

SPEECH_EXAMPLES = {"transcription.yaml"}
"""Run at full speed (speech timing) by tests/test_scenario_speech.py."""


def test_every_example_is_run_here() -> None:
    examples = sorted([*EXAMPLES, *BROWSER_EXAMPLES, *SPEECH_EXAMPLES])
    assert examples == sorted(p.name for p in (ROOT / "scenarios").glob("*.yaml"))


@pytest.mark.serial  # the examples judge tiles, A/V sync and loop lag
@pytest.mark.timeout(RUN_TIMEOUT)
@pytest.mark.parametrize("name", sorted(EXAMPLES))
async def test_example_runs_on_the_embedded_platform(name: str, tmp_path: Path) -> None:
    scenario = load_scenario(ROOT / "scenarios" / name)
    run = ScenarioRun(
        scenario, RunOptions(report_dir=tmp_path, time_scale=EXAMPLES[name], quiet=True)
    )
    result = await run.execute()
    evaluation = evaluate(scenario, result)
    write_reports(scenario, result, evaluation, tmp_path)
    reports_in(tmp_path)

    completed = evaluation.expectations[0]
    assert completed.name == "run_completed" and completed.passed, completed.message
    assert result.participants
    assert all(p.joined_at is not None for p in result.participants)
    assert run.leftover_peer_connections == 0
    assert all(actor.peer_connection_count() == 0 for actor in run.actors)
    if name == "bad-network.yaml":
        shaped = {p.group: p.network for p in result.participants}
        for unshaped in ("clean", "presenter"):  # at most what the platform said of them
            record = shaped[unshaped]
            assert record is None or (not record.changes and not record.down)
        mobile = shaped["mobile"]
        assert mobile is not None
        assert [c.profile for c in mobile.changes] == ["4g", "outage", "4g", "4g*"]
        assert mobile.down["lost"] > 0  # the outage (a viewer sends little: RTCP now and then)
        limited = shaped["limited"]
        assert limited is not None and limited.down["delivered"] > 0
        assert limited.down["queue_dropped"] > 0  # 300k below the presenter's 600k
        # The embedded platform graded someone's link from its RTCP, recorded beside ours.
        assert any(n is not None and n.platform for n in shaped.values())
    if name in ("snapshot-and-camera.yaml", "recording.yaml"):
        # Unscaled timeouts: every request is answered however the clock is scaled.
        assert evaluation.passed, [e.message for e in evaluation.failures]


def test_an_unreachable_server_exits_3_with_one_line_and_a_junit_error(tmp_path: Path) -> None:
    secret = "do-not-print-this-secret"
    result = subprocess.run(
        [
            *(str(CLI), "run", "scenarios/two-party-call.yaml", "--server", "http://127.0.0.1:9"),
            *("--client-id", "bot", "--report", str(tmp_path / "r")),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=RUN_TIMEOUT,
        env={**os.environ, "AUVIOUS_CLIENT_SECRET": secret},
    )
    no_traceback(result)
    assert result.returncode == 3
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("auvious-agent run: cannot run two-party-call: LoginFailed")
    assert "127.0.0.1:9" in last
    assert secret not in result.stdout + result.stderr
    junit = (tmp_path / "r" / "junit.xml").read_text()  # CI still has a file to read
    assert "LoginFailed" in junit and secret not in junit
    assert not (tmp_path / "r" / "report.json").exists()


def progress(**changes: object) -> Progress:
    fields: dict[str, object] = {
        "elapsed": 3.0,
        "total": 10.0,
        "phase": "ramp",
        "participants": 4,
        "joined": 3,
        "streams_published": 4,
        "streams_flowing": 5,
        "streams_viewed": 6,
        "errors": 0,
    }
    fields.update(changes)
    return Progress(**fields)  # type: ignore[arg-type]


def test_the_progress_view_redraws_one_line_on_a_terminal() -> None:
    out = io.StringIO()
    view = ProgressView(out, interactive=True, title="call")
    view.show(progress())
    view.show(progress(elapsed=4.0, errors=2))
    view.finish("done")
    text = out.getvalue()
    assert text.count("\r\x1b[K") == 3 and text.count("\n") == 1
    assert "call:   4.0s / 10s (6s left)  phase ramp  joined 3/4" in text
    assert "flowing 5/6 viewed  errors 2" in text
    assert text.endswith("\r\x1b[Kcall: done\n")


def test_the_progress_view_logs_a_line_now_and_then_otherwise() -> None:
    out = io.StringIO()
    view = ProgressView(out, interactive=False, title="call")
    for second in range(3):  # shown at once, then not again within LOG_EVERY
        view.show(progress(elapsed=float(second), total=None))
    view.finish("done")
    lines = out.getvalue().splitlines()
    assert lines == [
        "call:   0.0s  phase ramp  joined 3/4  published 4  flowing 5/6 viewed",
        "call: done",
    ]
