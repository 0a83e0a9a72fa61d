"""Each run in its own timestamped folder with a stable `latest` link, and the per-stream
samples as CSV beside the other reports."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

from agent.scenario.expect import evaluate
from agent.scenario.report import point_latest, timestamped, write_reports
from tests.scenario_results_support import EXPECT, run, scenario


def test_runs_keep_their_own_folders_and_latest_points_at_the_newest(tmp_path: Path) -> None:
    at = datetime(2026, 12, 7, 15, 30, 12, tzinfo=UTC)
    first = timestamped(tmp_path / "two-party", at)
    assert first.name == "20261207-153012"
    chosen, result = scenario(EXPECT), run()
    write_reports(chosen, result, evaluate(chosen, result), first)
    latest = point_latest(first)
    second = timestamped(tmp_path / "two-party", at)  # the same second
    assert second.name == "20261207-153012-2"
    write_reports(chosen, result, evaluate(chosen, result), second)
    point_latest(second)
    assert latest.resolve() == second.resolve()
    assert (latest / "report.html").is_file() and (first / "report.html").is_file()


def test_samples_csv_has_every_sample_of_every_stream(tmp_path: Path) -> None:
    chosen, result = scenario(EXPECT), run()
    paths = write_reports(chosen, result, evaluate(chosen, result), tmp_path)
    with paths.samples.open(encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    expected = sum(
        len(stream.fps)
        + len(stream.delay)
        + len(stream.bitrate)
        + len(stream.jitter)
        + len(stream.audio_level)
        + len(stream.av_sync)
        for participant in result.participants
        for stream in participant.streams
    )
    assert len(rows) == expected > 0
    assert {row["series"] for row in rows} == {
        "fps",
        "delay",
        "bitrate",
        "jitter",
        "audio_level",
        "av_sync",
    }
    first = rows[0]
    assert (first["participant"], first["direction"], first["series"]) == (
        "agent-0",
        "publish",
        "bitrate",
    )
    assert float(first["value"]) == 800_000.0
    level = next(row for row in rows if row["series"] == "audio_level")
    assert (level["direction"], float(level["value"])) == ("view", -24.0)
