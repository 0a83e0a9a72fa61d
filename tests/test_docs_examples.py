"""The examples in docs/ run as the docs say, so the docs cannot rot: each is started as a
user would start it, on the embedded platform, for a few seconds."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.speech_support import WER_BOUND, needs_espeak

ROOT = Path(__file__).resolve().parent.parent


@needs_espeak
@pytest.mark.slow
def test_transcribing_bot_transcribes_records_and_answers_a_snapshot(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run(
        [
            sys.executable,
            "docs/examples/transcribing_bot.py",
            "--seconds",
            "0.5",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    wer = float(done.stdout.split("word error rate ", 1)[1].split(" ", 1)[0])
    assert wer <= WER_BOUND, done.stdout
    assert done.stdout.count("said:  ") == 3
    assert re.search(r"^\[ *\d+\.\d\d s\] \w", done.stdout, re.M), done.stdout  # as they came
    assert "snapshot acquired=True (image/jpeg)" in done.stdout
    assert "snapshots the bot answered: 1" in done.stdout
    files = sorted(path.name.split(".", 1)[1] for path in out.iterdir() if path.stat().st_size)
    assert files == ["mp4", "transcript.json", "vtt", "wav"], list(out.iterdir())
