"""Whether a load was sustained: what arrived over a measured window, against what was sent.

"Sustained" (issue "Load"): at least 95% of the sent frames arrive, video freezes last under
1% of the time, and under 0.5% of the packets are lost. Frames are judged against the
nominal rate (30 fps video, 50 Opus frames a second), not against what the publisher
managed to send, so a publisher that falls behind under load fails the run instead of
lowering the bar.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from agent.participant import TrackMeasurements, ViewerMeasurements

__all__ = ["Criteria", "KindWindow", "WindowReport", "judge", "kind_windows"]

AUDIO_FRAME_RATE = 50.0


@dataclass(frozen=True, slots=True)
class Criteria:
    min_frame_ratio: float = 0.95
    max_freeze_ratio: float = 0.01
    max_loss: float = 0.005


@dataclass(frozen=True, slots=True)
class KindWindow:
    """One kind of media of one viewed stream over the window."""

    kind: str
    frames: int
    expected_frames: float
    freeze_s: float
    seconds: float
    packets_received: int
    packets_lost: int

    @property
    def frame_ratio(self) -> float:
        return self.frames / self.expected_frames if self.expected_frames > 0 else 0.0

    @property
    def freeze_ratio(self) -> float:
        return self.freeze_s / self.seconds if self.seconds > 0 else 0.0

    @property
    def loss(self) -> float:
        total = self.packets_received + self.packets_lost
        return self.packets_lost / total if total > 0 else 0.0


def _window(
    before: TrackMeasurements | None, after: TrackMeasurements, seconds: float, rate: float
) -> KindWindow:
    frames0 = before.frames if before else 0
    freeze0 = before.total_freeze_s if before else 0.0
    received0 = before.packets_received if before else 0
    lost0 = before.packets_lost if before else 0
    return KindWindow(
        kind=after.kind,
        frames=after.frames - frames0,
        expected_frames=rate * seconds,
        freeze_s=max(0.0, after.total_freeze_s - freeze0),
        seconds=seconds,
        packets_received=max(0, after.packets_received - received0),
        packets_lost=max(0, after.packets_lost - lost0),
    )


def kind_windows(
    before: Mapping[str, ViewerMeasurements],
    after: Mapping[str, ViewerMeasurements],
    seconds: float,
    video_fps: float,
) -> list[KindWindow]:
    """Per viewed stream (keyed by anything unique, e.g. viewer name and stream id) and kind:
    what arrived between the two measurements, over the time between them where both say
    when they were taken (else `seconds`). A stream missing at the end counts as nothing
    arrived; one missing at the start is counted from zero."""
    windows: list[KindWindow] = []
    for key, end in after.items():
        start = before.get(key)
        span = seconds
        if start is not None and start.measured_at is not None and end.measured_at is not None:
            span = end.measured_at - start.measured_at
        for kind, track in end.tracks.items():
            rate = video_fps if kind == "video" else AUDIO_FRAME_RATE
            earlier = start.tracks.get(kind) if start is not None else None
            windows.append(_window(earlier, track, span, rate))
    for key, start in before.items():
        if key not in after:
            for kind in start.tracks:
                rate = video_fps if kind == "video" else AUDIO_FRAME_RATE
                windows.append(KindWindow(kind, 0, rate * seconds, seconds, seconds, 0, 0))
    return windows


@dataclass(frozen=True, slots=True)
class WindowReport:
    """The pooled figures of every viewed stream, and the worst single stream."""

    streams: int
    frame_ratio: dict[str, float]
    worst_frame_ratio: dict[str, float]
    freeze_ratio: float
    worst_freeze_ratio: float
    loss: float
    worst_loss: float
    sustained: bool
    failures: list[str]


def judge(windows: Iterable[KindWindow], criteria: Criteria | None = None) -> WindowReport:
    """Pooled over all streams: frames per kind, video freeze time, packet loss. No streams
    at all is not sustained."""
    criteria = criteria or Criteria()
    items = list(windows)
    failures: list[str] = []
    frame_ratio: dict[str, float] = {}
    worst_frames: dict[str, float] = {}
    for kind in sorted({w.kind for w in items}):
        of_kind = [w for w in items if w.kind == kind]
        expected = sum(w.expected_frames for w in of_kind)
        frame_ratio[kind] = sum(w.frames for w in of_kind) / expected if expected else 0.0
        worst_frames[kind] = min(w.frame_ratio for w in of_kind)
        if frame_ratio[kind] < criteria.min_frame_ratio:
            failures.append(f"{kind} frames {100 * frame_ratio[kind]:.1f}% of nominal")
    video = [w for w in items if w.kind == "video"]
    video_seconds = sum(w.seconds for w in video)
    freeze = sum(w.freeze_s for w in video) / video_seconds if video_seconds else 0.0
    if freeze >= criteria.max_freeze_ratio:
        failures.append(f"video frozen {100 * freeze:.2f}% of the time")
    packets = sum(w.packets_received + w.packets_lost for w in items)
    loss = sum(w.packets_lost for w in items) / packets if packets else 0.0
    if loss >= criteria.max_loss:
        failures.append(f"packet loss {100 * loss:.2f}%")
    if not items:
        failures.append("no stream was viewed")
    return WindowReport(
        streams=len(items),
        frame_ratio=frame_ratio,
        worst_frame_ratio=worst_frames,
        freeze_ratio=freeze,
        worst_freeze_ratio=max((w.freeze_ratio for w in video), default=0.0),
        loss=loss,
        worst_loss=max((w.loss for w in items), default=0.0),
        sustained=not failures,
        failures=failures,
    )
