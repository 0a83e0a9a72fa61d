"""The HTML report of a REAL 200-participant run, opened in Debian's Chromium: what
`test_report_at_scale.py` checks on synthetic results, here on a run of the product itself.

`auvious-agent run --workers 2` on the embedded platform (its own process) brings 100
two-party calls over a 30 s ramp, then holds them for a 20 s steady phase: real REST, MQTT
and aiortc peer connections through the platform's router. To fit 2 shared cores the calls
are light: the customer publishes its microphone only and the agent adds a 160x120 camera at
5 fps, and every viewer counts frames from RTP (`receive` light). The run may be judged
invalid (the load generator starved on a loaded machine) or fail its expectations: this test
is about the report, so it holds whatever the verdict, but every figure it checks on the page
is checked against what the run measured (`report.json`): the participants-over-time plot
peaks at the number the run had in a conference at once, the bands cover every received
stream that has samples, the streams named in the worst-streams table and over the bands
exist in the run, and a name's link opens that participant's section.

Measured (niced, in a loopback namespace, on 2 cores beside a soak and other benchmarks,
load average 4-7; benchmarks/RESULTS.md): the test takes 76-98 s (the run reports 58-80 s),
the report is 433-508 kB (bound: SIZE_BOUND). Every run so far was judged invalid (the
workers' own loop lag p99 277-454 ms > 50 ms) and 181-200 of the 200 were in a conference at
once; the largest run of this shape judged valid beside the soak was 70. One run failed the
test before 119d392: the CLI printed a traceback (`tests/test_participant_lost_events.py`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agent.browser import chromium_missing
from tests.report_page_support import SIZE_BOUND, open_report

pytestmark = [
    pytest.mark.slow,
    pytest.mark.serial,
    pytest.mark.timeout(900),
    pytest.mark.skipif(chromium_missing() is not None, reason=str(chromium_missing())),
]

ROOT = Path(__file__).resolve().parent.parent
CLI = Path(sys.executable).parent / "auvious-agent"
CALLS = 100
PEOPLE = 2 * CALLS
PHASES = ["ramp", "steady"]
RUN_TIMEOUT = 600.0
"""Seconds for the whole CLI run: 50 s of media, joins and teardown slowed by the load."""

SCENARIO = f"""\
name: calls-200
description: {CALLS} two-party calls ramping up, then steady; light enough for 2 cores.
phases:
  - name: ramp
    duration: 30s
    arrival_count: {CALLS}
  - name: steady
    duration: 20s
    arrival_count: 0
participants:
  - name: agent
    role: agent
    conference: call-${{arrival}}
    publish: [{{type: MIC_AND_CAM, resolution: 160x120, fps: 5, bitrate: 60k}}]
    view: all
  - name: customer
    role: customer
    conference: call-${{arrival}}
    publish: [{{type: MIC}}]
    view: all
expect:
  join_time: {{p95: "< 5s"}}
"""

PEAK_JS = """svg => {
    const ticks = [...svg.querySelectorAll('text.tick[text-anchor="end"]')]
        .map(t => [Number(t.getAttribute('y')) - 4, Number(t.textContent)]);
    const [[y0, v0], [y1, v1]] = [ticks[0], ticks[ticks.length - 1]];
    const peaks = {};
    for (const line of svg.querySelectorAll('polyline')) {
        const ys = line.getAttribute('points').trim().split(' ').map(p => Number(p.split(',')[1]));
        const top = Math.min(...ys);
        peaks[line.querySelector('title').textContent] = v0 + (top - y0) * (v1 - v0) / (y1 - y0);
    }
    return peaks;
}"""
"""The peak of each line of a line chart, in the units of its y axis (read off its ticks)."""


def run_calls(tmp_path: Path) -> tuple[dict[str, Any], Path]:
    scenario = tmp_path / "calls-200.yaml"
    scenario.write_text(SCENARIO)
    reports = tmp_path / "reports"
    done = subprocess.run(
        [str(CLI), "run", str(scenario), "--workers", "2", "--report", str(reports)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=RUN_TIMEOUT,
        env={**os.environ},
    )
    output = done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stdout + done.stderr, output
    # 0 pass, 1 an expectation failed, 4 the load generator starved: each wrote the report.
    assert done.returncode in (0, 1, 4), output
    return json.loads((reports / "report.json").read_text()), reports / "report.html"


def peak_in_conference(result: dict[str, Any]) -> int:
    """The most participants in a conference at once, from the run's own join records."""
    steps = []
    for participant in result["participants"]:
        for stay in participant["joins"]:
            steps.append((stay["joined_at"], 1))
            if stay["left_at"] is not None:
                steps.append((stay["left_at"], -1))
    present = peak = 0
    for _, change in sorted(steps):
        present += change
        peak = max(peak, present)
    return peak


def received(result: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Every viewed stream, by viewer and the label reports give it."""
    return {
        (p["name"], f"← {s['publisher']} {s['stream_type']}"): s
        for p in result["participants"]
        for s in p["streams"]
        if s["direction"] == "view"
    }


def sampled(result: dict[str, Any], series: str) -> int:
    return sum(1 for s in received(result).values() if s[series])


async def test_a_real_200_participant_run_reports_at_a_glance(tmp_path: Path) -> None:
    report, html = run_calls(tmp_path)
    result = report["result"]
    assert len(result["participants"]) == PEOPLE
    assert [phase["name"] for phase in result["phases"]] == PHASES
    views = received(result)
    peak = peak_in_conference(result)
    assert peak > 0, "nobody joined: there is no run to report"
    size = html.stat().st_size
    assert size < SIZE_BOUND, f"{size} bytes"

    async with open_report(html) as opened:
        page = opened.page
        plots = page.locator("#plots")

        # Participants over time: every arrival, and as many in a conference at once
        # as the run's join records say.
        over_time = plots.locator('svg[aria-label="Participants over time"]')
        peaks = await over_time.evaluate(PEAK_JS)
        assert round(peaks["arrived"]) == PEOPLE, peaks
        assert round(peaks["in a conference"]) == peak, (peaks, peak)

        # Bands over every received stream that has samples (the frame rate: the
        # agents' cameras; bitrate and jitter: every view), the worst named over them.
        for what, series in (
            ("Frame rate", "fps"),
            ("Bitrate", "bitrate"),
            ("Jitter", "jitter"),
        ):
            streams = sampled(result, series)
            chart = plots.locator(f'svg[aria-label^="{what} over time across"]')
            assert await chart.get_attribute("aria-label") == (
                f"{what} over time across {streams} received streams"
            )
            assert await chart.locator("polygon.band").count() >= 2
            assert await chart.locator("polyline.median").count() >= 1
            for name in await chart.locator("polyline.highlight title").all_text_contents():
                viewer, _, label = name.removeprefix("worst: ").partition(" ")
                assert (viewer, label) in views, name

        # The two phases shaded on every time axis.
        await opened.assert_shaded(
            (
                "Participants over time",
                "Frame rate over time",
                "Bitrate over time",
                "Jitter over time",
                "Participants timeline",
            ),
            PHASES,
        )

        # The worst streams, named: each row is a stream of the run, and its link opens
        # that participant's (collapsed) section, which lists the stream.
        rows = page.locator("table.worst-streams tbody tr")
        assert await rows.count() == min(20, len(views))
        named = []
        for n in range(await rows.count()):
            cells = rows.nth(n).locator("td")
            viewer = (await cells.nth(1).inner_text()).strip()
            label = (await cells.nth(3).inner_text()).strip()
            assert (viewer, label) in views, (viewer, label)
            named.append((viewer, label))
        assert await page.locator("details.participant").count() == PEOPLE
        assert await page.locator("details[open]").count() == 0
        viewer, label = named[0]
        await page.locator("table.worst-streams tbody tr a").first.click()
        section = page.locator(f'details.participant:has([id="p-{viewer}"])')
        assert await section.evaluate("element => element.open")
        assert await section.locator("tbody tr", has_text=label).count() == 1

        await opened.screenshot(tmp_path / "report.png")
