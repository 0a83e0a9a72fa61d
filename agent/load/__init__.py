"""Load: many participants per process, with the measurements a load test judges by."""

from agent.load.crowd import Crowd, Member
from agent.load.live import LiveSnapshot, LiveSource, MetricsEndpoint, snapshot_of_views
from agent.load.media import MediaPlan, NaiveMedia, SharedMedia, SharedOpusEncoder
from agent.load.platform import LocalPlatform, PlatformError, serve_platform
from agent.load.sustained import Criteria, KindWindow, WindowReport, judge, kind_windows

__all__ = [
    "Criteria",
    "Crowd",
    "KindWindow",
    "LiveSnapshot",
    "LiveSource",
    "LocalPlatform",
    "MediaPlan",
    "Member",
    "MetricsEndpoint",
    "NaiveMedia",
    "PlatformError",
    "SharedMedia",
    "SharedOpusEncoder",
    "WindowReport",
    "judge",
    "kind_windows",
    "serve_platform",
    "snapshot_of_views",
]
