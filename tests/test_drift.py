"""Drift watching (issue 16): real samples of this process, and slopes read from samples."""

from __future__ import annotations

import asyncio

import pytest

from agent.participant.drift import DriftWatcher, ResourceSample, sample


async def test_a_sample_reads_this_process() -> None:
    now = sample(peer_connections=3)
    assert now.rss_bytes > 10 * 2**20, "a Python process with aiortc loaded holds > 10 MiB"
    assert now.fds >= 3 and now.threads >= 1 and now.tasks >= 1
    assert now.peer_connections == 3


async def test_growth_and_slope_per_hour_and_a_background_watch() -> None:
    watcher = DriftWatcher()
    watcher.samples = [
        ResourceSample(
            at=t, rss_bytes=int(1000 + 2 * t), fds=10, threads=4, tasks=5, peer_connections=0
        )
        for t in (0.0, 10.0, 20.0, 30.0)
    ]
    assert watcher.slope_per_hour("rss_bytes") == pytest.approx(7200.0)
    assert watcher.slope_per_hour("fds") == 0
    assert watcher.growth("rss_bytes") == 60 and watcher.growth("rss_bytes", since=2) == 20
    with pytest.raises(ValueError, match="unknown resource 'memory'"):
        watcher.growth("memory")
    background = DriftWatcher(interval=0.05)
    background.start()
    await asyncio.sleep(0.3)
    await background.stop()
    assert len(background.samples) >= 2
