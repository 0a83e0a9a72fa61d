"""Waiting in tests for state that has no event to await (counters, peer connection counts)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

LIVENESS = 20.0  # seconds: a generous liveness bound, the machine may be loaded


async def wait_until(condition: Callable[[], bool], what: str, within: float = LIVENESS) -> None:
    """Poll `condition`; fail naming `what` if it does not hold within `within` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.05)
