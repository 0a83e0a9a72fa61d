"""A browser's snapshot in the agent's own measurement shapes, so one report holds both.

Viewed streams become `ViewerMeasurements` (video: the page's frame records through the same
`VideoMonitor` as an agent's; audio: packets, one Opus packet being one 20 ms frame, as the
browser plays audio out itself and gives no frames), published streams `PublisherMeasurements`.
The browser's extra figures (frames decoded, its codec) stay in `BrowserSnapshot`.
"""

from __future__ import annotations

from agent.browser.report import BrowserPublishReport, BrowserSnapshot, BrowserViewReport
from agent.participant import (
    ParticipantMeasurements,
    PublisherMeasurements,
    StreamState,
    TrackMeasurements,
    ViewerMeasurements,
)
from agent.participant.policy import Reception

__all__ = ["measurements_from_snapshot"]


def _state(connection_state: str) -> str:
    """The page's RTCPeerConnection state as a `StreamState` value."""
    if connection_state == "connected":
        return StreamState.LIVE.value
    if connection_state in ("new", "connecting"):
        return StreamState.CONNECTING.value
    if connection_state == "closed":
        return StreamState.STOPPED.value
    return StreamState.FAILED.value


def _tracks(view: BrowserViewReport) -> dict[str, TrackMeasurements]:
    tracks: dict[str, TrackMeasurements] = {}
    for rtp in view.inbound:
        video = view.video if rtp.kind == "video" else None
        tracks[rtp.kind] = TrackMeasurements(
            kind=rtp.kind,
            reception=Reception.DECODE.value,
            frames=video.frames if video is not None else rtp.packets_received,
            time_to_first_frame_s=video.time_to_first_frame if video is not None else None,
            fps=video.fps if video is not None else 0.0,
            freeze_count=video.freeze_count if video is not None else 0,
            total_freeze_s=video.total_freeze_duration if video is not None else 0.0,
            delay_ms=video.delay_ms if video is not None else None,
            level_dbfs=None,
            silence_ratio=None,
            packets_received=rtp.packets_received,
            packets_lost=rtp.packets_lost,
            jitter_s=rtp.jitter_s,
            recording=None,
        )
    return tracks


def _viewer(view: BrowserViewReport) -> ViewerMeasurements:
    return ViewerMeasurements(
        stream_id=view.stream_id,
        stream_type=view.stream_type,
        publisher_endpoint_id=view.publisher_endpoint_id,
        viewer_id=view.viewer_id,
        state=_state(view.connection_state),
        replacements=0,
        bitrate_bps=None,
        bytes_received=view.bytes_received,
        tracks=_tracks(view),
    )


def _publisher(published: BrowserPublishReport) -> PublisherMeasurements:
    return PublisherMeasurements(
        stream_id=published.stream_id,
        stream_type=published.stream_type,
        state=_state(published.connection_state),
        replacements=0,
        bitrate_bps=None,
        bytes_sent=published.bytes_sent,
        tracks={o.kind: o for o in published.outbound},
    )


def measurements_from_snapshot(name: str, snapshot: BrowserSnapshot) -> ParticipantMeasurements:
    return ParticipantMeasurements(
        name=name,
        endpoint_id=snapshot.user_endpoint_id,
        conference_id=snapshot.conference_id,
        publishers=[_publisher(p) for p in snapshot.published],
        viewers=[_viewer(v) for v in snapshot.viewed],
    )
