"""The examples in docs/ run as the docs say, so the docs cannot rot: each is started as a
user would start it, on the embedded platform, for a few seconds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_transcribing_bot_hears_records_and_answers_a_snapshot(tmp_path: Path) -> None:
    out = tmp_path / "recordings"
    done = subprocess.run(
        [sys.executable, "docs/examples/transcribing_bot.py", "--seconds", "2", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    heard = float(done.stdout.split("heard ", 1)[1].split(" s", 1)[0])
    assert heard > 0.5, done.stdout
    assert "snapshot acquired=True (image/jpeg)" in done.stdout
    assert "snapshots the bot answered: 1" in done.stdout
    recordings = sorted(path.suffix for path in out.iterdir() if path.stat().st_size > 1000)
    assert recordings == [".mp4", ".wav"], list(out.iterdir())
