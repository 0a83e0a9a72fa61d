"""Load: many participants per process and many processes per run, with the measurements a
load test judges by and a live view for Prometheus."""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.load.crowd import Crowd, Member
    from agent.load.media import MediaPlan, NaiveMedia, SharedMedia
    from agent.load.pairs import PairsJob
    from agent.load.platform import LocalPlatform, PlatformError, serve_platform
    from agent.load.sustained import Criteria, KindWindow, WindowReport, judge, kind_windows
    from agent.load.workers import (
        LiveSink,
        Shard,
        ShardError,
        WorkerJob,
        WorkerPool,
        merge_results,
        parse_shard,
    )
    from agent.scenario.live import (
        LiveSnapshot,
        LiveSource,
        MetricsEndpoint,
        combine,
        snapshot_of_views,
    )
    from media.opus_fanout import SharedOpusEncoder

_HOMES = {
    "Criteria": "agent.load.sustained",
    "Crowd": "agent.load.crowd",
    "KindWindow": "agent.load.sustained",
    "LiveSink": "agent.load.workers",
    "LiveSnapshot": "agent.scenario.live",
    "LiveSource": "agent.scenario.live",
    "LocalPlatform": "agent.load.platform",
    "MediaPlan": "agent.load.media",
    "Member": "agent.load.crowd",
    "MetricsEndpoint": "agent.scenario.live",
    "NaiveMedia": "agent.load.media",
    "PairsJob": "agent.load.pairs",
    "PlatformError": "agent.load.platform",
    "Shard": "agent.load.workers",
    "ShardError": "agent.load.workers",
    "SharedMedia": "agent.load.media",
    "SharedOpusEncoder": "media.opus_fanout",
    "WindowReport": "agent.load.sustained",
    "WorkerJob": "agent.load.workers",
    "WorkerPool": "agent.load.workers",
    "combine": "agent.scenario.live",
    "judge": "agent.load.sustained",
    "kind_windows": "agent.load.sustained",
    "merge_results": "agent.load.workers",
    "parse_shard": "agent.load.workers",
    "serve_platform": "agent.load.platform",
    "snapshot_of_views": "agent.scenario.live",
}
"""Where each name lives: imported on first use, so that importing one submodule (the command
line's `agent.load.scenario_job`) does not import them all (aiortc, the platform...)."""

__all__ = [
    "Criteria",
    "Crowd",
    "KindWindow",
    "LiveSink",
    "LiveSnapshot",
    "LiveSource",
    "LocalPlatform",
    "MediaPlan",
    "Member",
    "MetricsEndpoint",
    "NaiveMedia",
    "PairsJob",
    "PlatformError",
    "Shard",
    "ShardError",
    "SharedMedia",
    "SharedOpusEncoder",
    "WindowReport",
    "WorkerJob",
    "WorkerPool",
    "combine",
    "judge",
    "kind_windows",
    "merge_results",
    "parse_shard",
    "serve_platform",
    "snapshot_of_views",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
