"""Load: many participants per process and many processes per run, with the measurements a
load test judges by and a live view for Prometheus."""

from agent.load.crowd import Crowd, Member
from agent.load.live import (
    LiveSnapshot,
    LiveSource,
    MetricsEndpoint,
    combine,
    snapshot_of_views,
)
from agent.load.media import MediaPlan, NaiveMedia, SharedMedia, SharedOpusEncoder
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
