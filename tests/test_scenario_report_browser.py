"""The HTML report as a person sees it: headless Chromium screenshots it and the plots
are there (their colours cover real areas of the picture, not just the markup)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from agent.scenario.expect import evaluate
from agent.scenario.report import write_reports
from agent.scenario.report.svg import PALETTE
from tests.scenario_results_support import EXPECT, run, scenario

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed")
def test_screenshot_of_the_html_report_shows_the_plots(tmp_path: Path) -> None:
    sc, result = scenario(EXPECT), run()
    paths = write_reports(sc, result, evaluate(sc, result), tmp_path / "report")
    shot = tmp_path / "report.png"
    assert CHROMIUM is not None
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1400,3200",  # the page down to the participants timeline
            f"--screenshot={shot}",
            paths.html.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=90,
    )
    with av.open(str(shot)) as container:
        frame = next(container.decode(video=0))
        pixels = frame.to_ndarray(format="rgb24")
    assert pixels.shape[:2] == (3200, 1400)

    def area(color: str) -> int:
        return int(np.all(pixels == np.array(rgb(color), dtype=np.uint8), axis=-1).sum())

    # Histogram bars and the first series are PALETTE[0]; time in the conference is
    # PALETTE[2] in the participants timeline; the second series is PALETTE[1].
    assert area(PALETTE[0]) > 5000
    assert area(PALETTE[2]) > 2000
    assert area(PALETTE[1]) > 200
