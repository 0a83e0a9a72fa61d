"""A child interpreter for the tests that need a fresh process (import-time state, a module
hidden from it): `python -c CODE` in the checkout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_python(code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`code` run by this interpreter in a new process, from the checkout; output captured."""
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
