"""What the client page's `auviousStats()` returns, turned into the agent's own report shapes.

The page records one `[arrival s, seq, sent ms]` per presented frame and the browser's
getStats figures; the frame records go through the same `VideoMonitor` the agent's viewers
use, so a browser's fps, freezes and delay are computed exactly like an agent's, and getStats
adds what only the browser knows (frames decoded, its own freeze count, the codec it used).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from media.analysis import Freeze
from media.monitor import VideoMonitor, VideoReport
from media.stats import InboundRtp, OutboundRtp


@dataclass(frozen=True)
class BrowserDecoding:
    """getStats figures of one inbound track that aiortc cannot give (see media/stats.py)."""

    kind: str
    codec: str | None
    frames_decoded: int | None
    frames_dropped: int | None
    fps: float | None
    freeze_count: int | None
    total_freeze_duration: float | None
    decoder: str | None
    samples_received: int | None
    concealed_samples: int | None


@dataclass(frozen=True)
class BrowserViewReport:
    """One stream the browser views: the agent's viewer shapes plus the browser's decoding."""

    stream_id: str
    viewer_id: str
    stream_type: str
    publisher_endpoint_id: str | None
    connection_state: str
    started_at: float | None
    """Wall-clock time the page started viewing (its frames' times are on the same clock)."""
    candidates_sent: int
    """Trickled to add*IceCandidates, end-of-candidates included."""
    candidates_in_offer: int
    bytes_received: int
    video: VideoReport | None
    freezes: list[Freeze]
    """Each freeze of the video with its wall-clock start, as an agent's frame timeline has."""
    inbound: list[InboundRtp]
    decoding: dict[str, BrowserDecoding]


@dataclass(frozen=True)
class BrowserPublishReport:
    stream_id: str
    stream_type: str
    connection_state: str
    candidates_sent: int
    candidates_in_offer: int
    bytes_sent: int
    outbound: list[OutboundRtp]
    codecs: dict[str, str | None]
    encoders: dict[str, str | None]


@dataclass(frozen=True)
class BrowserSnapshot:
    state: str
    user_endpoint_id: str | None
    conference_id: str | None
    errors: list[str]
    published: list[BrowserPublishReport]
    viewed: list[BrowserViewReport]

    def viewing(self, publisher_endpoint_id: str) -> list[BrowserViewReport]:
        return [v for v in self.viewed if v.publisher_endpoint_id == publisher_endpoint_id]


def _int(stats: dict[str, Any], key: str) -> int | None:
    value = stats.get(key)
    return int(value) if isinstance(value, int | float) else None


def _float(stats: dict[str, Any], key: str) -> float | None:
    value = stats.get(key)
    return float(value) if isinstance(value, int | float) else None


def _str(stats: dict[str, Any], key: str) -> str | None:
    value = stats.get(key)
    return value if isinstance(value, str) else None


def _monitor(started_at: float | None, frames: list[list[Any]]) -> VideoMonitor:
    monitor = VideoMonitor(started_at=started_at)
    for at, seq, sent_ms in frames:
        code = (int(seq), int(sent_ms)) if seq is not None and sent_ms is not None else None
        monitor.add_frame(float(at), code)
    return monitor


def video_report(started_at: float | None, frames: list[list[Any]]) -> VideoReport:
    """The agent's `VideoReport` from the page's frame records."""
    return _monitor(started_at, frames).report()


def _inbound(kind: str, stats: dict[str, Any]) -> tuple[InboundRtp, BrowserDecoding]:
    rtp = InboundRtp(
        kind=kind,
        ssrc=_int(stats, "ssrc") or 0,
        packets_received=_int(stats, "packetsReceived") or 0,
        packets_lost=_int(stats, "packetsLost") or 0,
        jitter_s=_float(stats, "jitter") or 0.0,
    )
    decoding = BrowserDecoding(
        kind=kind,
        codec=_str(stats, "codec"),
        frames_decoded=_int(stats, "framesDecoded"),
        frames_dropped=_int(stats, "framesDropped"),
        fps=_float(stats, "framesPerSecond"),
        freeze_count=_int(stats, "freezeCount"),
        total_freeze_duration=_float(stats, "totalFreezesDuration"),
        decoder=_str(stats, "decoderImplementation"),
        samples_received=_int(stats, "totalSamplesReceived"),
        concealed_samples=_int(stats, "concealedSamples"),
    )
    return rtp, decoding


def _view(raw: dict[str, Any]) -> BrowserViewReport:
    inbound: list[InboundRtp] = []
    decoding: dict[str, BrowserDecoding] = {}
    for kind, stats in (raw.get("inbound") or {}).items():
        rtp, decoded = _inbound(kind, stats)
        inbound.append(rtp)
        decoding[kind] = decoded
    frames = raw.get("frames") or []
    has_video = "video" in (raw.get("inbound") or {}) or bool(frames)
    monitor = _monitor(raw.get("startedAt"), frames) if has_video else None
    return BrowserViewReport(
        stream_id=str(raw["streamId"]),
        viewer_id=str(raw["viewerId"]),
        stream_type=str(raw.get("type")),
        publisher_endpoint_id=raw.get("publisherEndpointId"),
        connection_state=str(raw.get("connectionState")),
        started_at=_float(raw, "startedAt"),
        candidates_sent=int(raw.get("candidatesSent") or 0),
        candidates_in_offer=int(raw.get("candidatesInOffer") or 0),
        bytes_received=sum(
            _int(k, "bytesReceived") or 0 for k in (raw.get("inbound") or {}).values()
        ),
        video=monitor.report() if monitor is not None else None,
        freezes=list(monitor.timeline.freezes) if monitor is not None else [],
        inbound=inbound,
        decoding=decoding,
    )


def _publish(raw: dict[str, Any]) -> BrowserPublishReport:
    outbound = []
    codecs: dict[str, str | None] = {}
    encoders: dict[str, str | None] = {}
    for kind, stats in (raw.get("outbound") or {}).items():
        outbound.append(
            OutboundRtp(
                kind=kind,
                ssrc=_int(stats, "ssrc") or 0,
                packets_sent=_int(stats, "packetsSent") or 0,
                bytes_sent=_int(stats, "bytesSent") or 0,
                round_trip_time_s=None,
                fraction_lost=None,
                packets_lost=None,
            )
        )
        codecs[kind] = _str(stats, "codec")
        encoders[kind] = _str(stats, "encoderImplementation")
    return BrowserPublishReport(
        stream_id=str(raw["streamId"]),
        stream_type=str(raw.get("type")),
        connection_state=str(raw.get("connectionState")),
        candidates_sent=int(raw.get("candidatesSent") or 0),
        candidates_in_offer=int(raw.get("candidatesInOffer") or 0),
        bytes_sent=sum(o.bytes_sent for o in outbound),
        outbound=outbound,
        codecs=codecs,
        encoders=encoders,
    )


def snapshot_from_page(raw: dict[str, Any]) -> BrowserSnapshot:
    """Parse `auviousStats()`; a missing required field is a KeyError naming it."""
    return BrowserSnapshot(
        state=str(raw["state"]),
        user_endpoint_id=raw.get("endpointId"),
        conference_id=raw.get("conferenceId"),
        errors=[str(e) for e in raw.get("errors") or []],
        published=[_publish(p) for p in raw.get("published") or []],
        viewed=[_view(v) for v in raw.get("viewed") or []],
    )
