"""Live figures of a run, served to Prometheus while it goes on (`--metrics-port`).

Whatever drives the participants (a `Crowd`, the scenario runner, a worker coordinator that
sums its workers) hands a `LiveSource`: an async callable giving a `LiveSnapshot` now. The
endpoint takes a snapshot on every scrape, so what Grafana shows is as fresh as its scrape
interval and nothing is computed between scrapes. Counters (packets, frames, errors) are
totals since the run started, as Prometheus expects; `rate()` turns them into per-second.
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from agent.participant import ViewerMeasurements
from agent.scenario.health import HealthNow
from agent.scenario.results import ParticipantResult, StreamDirection

__all__ = [
    "BUCKETS",
    "PREFIX",
    "Histogram",
    "HistogramSeries",
    "LiveSnapshot",
    "LiveSource",
    "MetricsEndpoint",
    "combine",
    "snapshot_of_results",
    "snapshot_of_views",
]

PREFIX = "auvious_agent"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
"""Upper bounds (seconds) of the time histograms' buckets: join, first frame and delay all fit."""
PSNR_BUCKETS = (20.0, 25.0, 30.0, 35.0, 40.0, 45.0, 50.0)
SSIM_BUCKETS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)
MOS_BUCKETS = (1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5)


@dataclass(frozen=True)
class HistogramSeries:
    """How one live histogram is exported: its series name (unit included) and buckets."""

    series: str
    help: str
    bounds: tuple[float, ...] = BUCKETS


HISTOGRAMS = {
    "join_time": HistogramSeries(
        "join_time_seconds", "Seconds from the join call to joined, every join so far"
    ),
    "first_frame_time": HistogramSeries(
        "first_frame_time_seconds", "Seconds from starting to view a stream until its first frame"
    ),
    "delay": HistogramSeries(
        "media_delay_seconds",  # `delay_seconds` is the gauge of the mean now
        "End-to-end delay of received media, one observation per stream per second",
    ),
    # The gauges `video_psnr_db`, `video_ssim` and `audio_mos` give the mean now; these the
    # distribution so far (`histogram_quantile` for a p5 of quality in Grafana).
    "video_psnr": HistogramSeries(
        "video_psnr_observed_db",
        "PSNR (dB) of sampled received frames, one observation per stream per second",
        PSNR_BUCKETS,
    ),
    "video_ssim": HistogramSeries(
        "video_ssim_observed",
        "SSIM of sampled received frames, one observation per stream per second",
        SSIM_BUCKETS,
    ),
    "audio_mos": HistogramSeries(
        "audio_mos_observed",
        "Wideband PESQ MOS of received audio windows, one observation per stream per second",
        MOS_BUCKETS,
    ),
}
"""Metric name (as `expect` names it) -> how its live histogram is exported."""


@dataclass(frozen=True)
class Histogram:
    """Observations so far in `bounds` (the last count is above the last bound), with their
    sum: what Prometheus needs for `histogram_quantile` (p95 in Grafana), and what processes
    add up exactly."""

    counts: tuple[int, ...] = (0,) * (len(BUCKETS) + 1)
    total: float = 0.0
    bounds: tuple[float, ...] = BUCKETS

    @classmethod
    def of(cls, values: Iterable[float], bounds: tuple[float, ...] = BUCKETS) -> Histogram:
        counts = [0] * (len(bounds) + 1)
        total = 0.0
        for value in values:
            counts[bisect.bisect_left(bounds, value)] += 1  # the first bound >= value
            total += value
        return cls(tuple(counts), total, bounds)

    def plus(self, other: Histogram) -> Histogram:
        if other.bounds != self.bounds:
            raise ValueError("histograms of different buckets do not add up")
        counts = tuple(a + b for a, b in zip(self.counts, other.counts, strict=True))
        return Histogram(counts, self.total + other.total, self.bounds)

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative counts by upper bound, "+Inf" last, as the exposition format wants."""
        found: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip([*map(str, self.bounds), "+Inf"], self.counts, strict=True):
            running += count
            found.append((bound, float(running)))
        return found


@dataclass(frozen=True)
class LiveSnapshot:
    """The run now. `fps` and `delay_ms` are over the viewed streams that report them."""

    participants: int = 0
    streams_published: int = 0
    streams_viewed: int = 0
    streams_flowing: int = 0
    """Viewed streams whose latest sample had media (frames; packets of an audio-only one):
    the progress line's `flowing`."""
    fps: dict[str, float] = field(default_factory=dict)
    """Mean received frame rate per kind ("video", "audio")."""
    delay_ms: float | None = None
    """Mean median delay of the streams that measure it (decoded reception only)."""
    video_psnr: float | None = None
    """Mean PSNR (dB) of the viewed synthetic video streams that score it (`media.quality`)."""
    video_ssim: float | None = None
    audio_mos: float | None = None
    """Mean MOS (wideband PESQ) of the viewed streams that score their audio
    (`media.audio_quality`)."""
    frames: dict[str, int] = field(default_factory=dict)
    packets_received: int = 0
    packets_lost: int = 0
    errors: int = 0
    health: dict[str, HealthNow] = field(default_factory=dict)
    """Each participants' process's own health now, by its part of the run ("0/2")."""
    histograms: dict[str, Histogram] = field(default_factory=dict)
    """Distributions so far, by metric name (`HISTOGRAMS`)."""
    labels: dict[str, str] = field(default_factory=dict)
    """`run`, `scenario` and `phase`, put on every series so dashboards can tell runs apart."""
    elapsed: float | None = None
    """Seconds since the run started, by the clock of the process that took the snapshot (of
    several, the furthest on); None before any run started."""
    groups: dict[str, LiveSnapshot] = field(default_factory=dict)
    """The same figures per scenario group: served as one series per group (the `group`
    label) instead of one for the run; empty for a load crowd, which has no groups."""

    @property
    def loss(self) -> float:
        total = self.packets_received + self.packets_lost
        return self.packets_lost / total if total else 0.0


LiveSource = Callable[[], Awaitable[LiveSnapshot]]


def snapshot_of_views(
    views: list[ViewerMeasurements],
    *,
    participants: int,
    streams_published: int,
    errors: int,
) -> LiveSnapshot:
    """A snapshot from the measurements of every viewed stream (of one process)."""
    fps: dict[str, list[float]] = {}
    frames: dict[str, int] = {}
    delays: list[float] = []
    quality: dict[str, list[float]] = {"psnr": [], "ssim": [], "mos": []}
    received = lost = 0
    for view in views:
        for kind, track in view.tracks.items():
            fps.setdefault(kind, []).append(track.fps)
            frames[kind] = frames.get(kind, 0) + track.frames
            received += track.packets_received
            lost += track.packets_lost
            median = (track.delay_ms or {}).get("p50")
            if median is not None:
                delays.append(median)
            for name, summary in (
                ("psnr", track.psnr_db),
                ("ssim", track.ssim),
                ("mos", track.mos),
            ):
                value = (summary or {}).get("p50")
                if value is not None:
                    quality[name].append(value)
    return LiveSnapshot(
        participants=participants,
        streams_published=streams_published,
        streams_viewed=len(views),
        fps={kind: sum(values) / len(values) for kind, values in fps.items()},
        delay_ms=_mean(delays),
        video_psnr=_mean(quality["psnr"]),
        video_ssim=_mean(quality["ssim"]),
        audio_mos=_mean(quality["mos"]),
        frames=frames,
        packets_received=received,
        packets_lost=lost,
        errors=errors,
    )


def snapshot_of_results(
    participants: Iterable[ParticipantResult],
    *,
    present: int,
    run_errors: int = 0,
    health: dict[str, HealthNow] | None = None,
    labels: dict[str, str] | None = None,
    end: float = 0.0,
    present_by_group: dict[str, int] | None = None,
) -> LiveSnapshot:
    """A snapshot from a run's records (the scenario runner's per-second samples): streams
    still open, their latest fps and delay samples, and counters so far; the same per
    scenario group (`groups`, the `group` label) when `present_by_group` says who is there.
    The run's own errors count in the whole, not in a group's."""
    everyone = list(participants)
    whole = _figures(everyone, present, run_errors, end)
    groups: dict[str, LiveSnapshot] = {}
    if present_by_group is not None:
        names = dict.fromkeys([p.group for p in everyone] + list(present_by_group))
        for name in names:
            members = [p for p in everyone if p.group == name]
            groups[name] = _figures(members, present_by_group.get(name, 0), 0, end)
    return replace(whole, health=health or {}, labels=labels or {}, groups=groups, elapsed=end)


def _figures(
    participants: list[ParticipantResult], present: int, run_errors: int, end: float
) -> LiveSnapshot:
    fps: dict[str, list[float]] = {}
    delays: list[float] = []
    quality: dict[str, list[float]] = {"psnr": [], "ssim": [], "mos": []}
    frames: dict[str, int] = {}
    published = viewed = flowing = received = lost = 0
    errors = run_errors
    observed: dict[str, list[float]] = {name: [] for name in HISTOGRAMS}
    for participant in participants:
        errors += len(participant.errors) + sum(1 for step in participant.steps if not step.ok)
        observed["join_time"] += [t for _, _, t in participant.presences(end) if t is not None]
        for stream in participant.streams:
            if stream.direction is StreamDirection.PUBLISH:
                published += stream.ended_at is None
                continue
            kind = "video" if stream.has_video else "audio"
            if stream.first_frame_time is not None:
                observed["first_frame_time"].append(stream.first_frame_time)
            observed["delay"] += [sample.value for sample in stream.delay]
            observed["video_psnr"] += [sample.value for sample in stream.psnr]
            observed["video_ssim"] += [sample.value for sample in stream.ssim]
            observed["audio_mos"] += [sample.value for sample in stream.mos]
            frames[kind] = frames.get(kind, 0) + stream.frames
            received += stream.packets_received
            lost += stream.packets_lost
            if stream.ended_at is not None:
                continue
            viewed += 1
            flowing += stream.delivering(end)
            if stream.fps:
                fps.setdefault(kind, []).append(stream.fps[-1].value)
            if stream.delay:
                delays.append(stream.delay[-1].value * 1000)  # samples are in seconds
            if stream.psnr:
                quality["psnr"].append(stream.psnr[-1].value)
            if stream.ssim:
                quality["ssim"].append(stream.ssim[-1].value)
            if stream.mos:
                quality["mos"].append(stream.mos[-1].value)
    return LiveSnapshot(
        participants=present,
        streams_published=published,
        streams_viewed=viewed,
        streams_flowing=flowing,
        fps={kind: sum(values) / len(values) for kind, values in fps.items()},
        delay_ms=_mean(delays),
        video_psnr=_mean(quality["psnr"]),
        video_ssim=_mean(quality["ssim"]),
        audio_mos=_mean(quality["mos"]),
        frames=frames,
        packets_received=received,
        packets_lost=lost,
        errors=errors,
        histograms={
            name: Histogram.of(values, HISTOGRAMS[name].bounds) for name, values in observed.items()
        },
    )


def combine(snapshots: list[LiveSnapshot]) -> LiveSnapshot:
    """Several processes' snapshots as one: counts add up; frame rates are averaged over
    the viewed streams, delays over the snapshots that have one."""
    fps: dict[str, float] = {}
    for kind in {k for s in snapshots for k in s.fps}:
        weighted = [(s.fps[kind], s.streams_viewed) for s in snapshots if kind in s.fps]
        weight = sum(w for _, w in weighted)
        fps[kind] = (
            sum(v * w for v, w in weighted) / weight
            if weight
            else sum(v for v, _ in weighted) / len(weighted)
        )
    delays = [s.delay_ms for s in snapshots if s.delay_ms is not None]
    frames: dict[str, int] = {}
    for snapshot in snapshots:
        for kind, count in snapshot.frames.items():
            frames[kind] = frames.get(kind, 0) + count
    return LiveSnapshot(
        participants=sum(s.participants for s in snapshots),
        streams_published=sum(s.streams_published for s in snapshots),
        streams_viewed=sum(s.streams_viewed for s in snapshots),
        streams_flowing=sum(s.streams_flowing for s in snapshots),
        fps=fps,
        delay_ms=_mean(delays),
        video_psnr=_mean([s.video_psnr for s in snapshots if s.video_psnr is not None]),
        video_ssim=_mean([s.video_ssim for s in snapshots if s.video_ssim is not None]),
        audio_mos=_mean([s.audio_mos for s in snapshots if s.audio_mos is not None]),
        frames=frames,
        packets_received=sum(s.packets_received for s in snapshots),
        packets_lost=sum(s.packets_lost for s in snapshots),
        errors=sum(s.errors for s in snapshots),
        health={name: now for s in snapshots for name, now in s.health.items()},
        histograms=_summed(snapshots),
        labels=next((s.labels for s in snapshots if s.labels), {}),
        elapsed=max((s.elapsed for s in snapshots if s.elapsed is not None), default=None),
        groups={
            name: combine([s.groups[name] for s in snapshots if name in s.groups])
            for name in dict.fromkeys(name for s in snapshots for name in s.groups)
        },
    )


def _summed(snapshots: list[LiveSnapshot]) -> dict[str, Histogram]:
    found: dict[str, Histogram] = {}
    for snapshot in snapshots:
        for name, histogram in snapshot.histograms.items():
            found[name] = found[name].plus(histogram) if name in found else histogram
    return found


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


class _SnapshotCollector(Collector):
    """Turns the snapshot taken for this scrape into metric families."""

    def __init__(self) -> None:
        self.snapshot = LiveSnapshot()

    def collect(self) -> Iterator[Metric]:
        snapshot = self.snapshot
        if snapshot.groups:
            parts = [({"group": name}, sub) for name, sub in sorted(snapshot.groups.items())]
        else:
            parts = [({}, snapshot)]
        merged: dict[str, Metric] = {}
        for extra, part in parts:
            for family in _run_families(part):
                _add_samples(merged, family, {**snapshot.labels, **extra})
        own = snapshot.errors - sum(sub.errors for sub in snapshot.groups.values())
        if snapshot.groups and own > 0:  # the run's own (setup, timeout): of no group
            errors = CounterMetricFamily(f"{PREFIX}_errors", "", labels=["group"])
            errors.add_metric([""], own)
            _add_samples(merged, errors, snapshot.labels)
        for family in _health_metrics(snapshot.health):
            _add_samples(merged, family, snapshot.labels)
        yield from merged.values()


def _add_samples(merged: dict[str, Metric], family: Metric, labels: dict[str, str]) -> None:
    """`family`'s samples with `labels` added, into the family of that name in `merged` (one
    family per name: a group's series join the others')."""
    samples = [sample._replace(labels={**labels, **sample.labels}) for sample in family.samples]
    if family.name in merged:
        merged[family.name].samples += samples
    else:
        family.samples = samples
        merged[family.name] = family


def _run_families(s: LiveSnapshot) -> Iterator[Metric]:
    """The run's (or one group's) figures; the process health is `_health_metrics`."""
    yield GaugeMetricFamily(
        f"{PREFIX}_participants", "Participants connected", value=s.participants
    )
    streams = GaugeMetricFamily(
        f"{PREFIX}_streams", "Conference streams open", labels=["direction"]
    )
    streams.add_metric(["publish"], s.streams_published)
    streams.add_metric(["view"], s.streams_viewed)
    yield streams
    fps = GaugeMetricFamily(
        f"{PREFIX}_received_fps", "Mean received frame rate of viewed streams", labels=["kind"]
    )
    for kind, value in sorted(s.fps.items()):
        fps.add_metric([kind], value)
    yield fps
    if s.delay_ms is not None:
        yield GaugeMetricFamily(
            f"{PREFIX}_delay_seconds",
            "Mean end-to-end delay of the streams that measure it",
            value=s.delay_ms / 1000,
        )
    if s.video_psnr is not None:
        yield GaugeMetricFamily(
            f"{PREFIX}_video_psnr_db",
            "Mean PSNR of viewed synthetic video against the sent frames (dB)",
            value=s.video_psnr,
        )
    if s.video_ssim is not None:
        yield GaugeMetricFamily(
            f"{PREFIX}_video_ssim",
            "Mean SSIM of viewed synthetic video against the sent frames (0..1)",
            value=s.video_ssim,
        )
    if s.audio_mos is not None:
        yield GaugeMetricFamily(
            f"{PREFIX}_audio_mos",
            "Mean MOS (wideband PESQ) of viewed synthetic audio against the sent sound",
            value=s.audio_mos,
        )
    frames = CounterMetricFamily(
        f"{PREFIX}_frames_received", "Frames received on viewed streams", labels=["kind"]
    )
    for kind, count in sorted(s.frames.items()):
        frames.add_metric([kind], count)
    yield frames
    yield CounterMetricFamily(
        f"{PREFIX}_packets_received", "RTP packets received", value=s.packets_received
    )
    yield CounterMetricFamily(f"{PREFIX}_packets_lost", "RTP packets lost", value=s.packets_lost)
    yield GaugeMetricFamily(
        f"{PREFIX}_loss_ratio", "Packets lost over packets expected, so far", value=s.loss
    )
    yield CounterMetricFamily(
        f"{PREFIX}_errors", "Failed steps and participant errors", value=s.errors
    )
    for name, histogram in sorted(s.histograms.items()):
        spec = HISTOGRAMS[name]
        family = HistogramMetricFamily(f"{PREFIX}_{spec.series}", spec.help)
        family.add_metric([], histogram.buckets(), histogram.total)
        yield family


def _health_metrics(health: dict[str, HealthNow]) -> Iterator[Metric]:
    """The load generator's own health, one series per process (`agent.scenario.health`)."""
    lag = GaugeMetricFamily(
        f"{PREFIX}_loop_lag_seconds",
        "Event-loop lag of a participants' process over the last 10 s",
        labels=["process", "quantile"],
    )
    cpu = GaugeMetricFamily(
        f"{PREFIX}_process_cpu_cores",
        "CPU of a participants' process, last second, in cores",
        labels=["process"],
    )
    drops = CounterMetricFamily(
        f"{PREFIX}_udp_receive_drops",
        "UDP datagrams the kernel dropped on a participants' process's sockets",
        labels=["process"],
    )
    saturated = GaugeMetricFamily(
        f"{PREFIX}_load_generator_saturated",
        "1 when a participants' process was saturated so far: the run measures it, not the "
        "platform",
        labels=["process"],
    )
    for process, now in sorted(health.items()):
        lag.add_metric([process, "0.99"], now.loop_lag_p99)
        lag.add_metric([process, "1"], now.loop_lag_max)
        cpu.add_metric([process], now.cpu)
        if now.udp_drops is not None:
            drops.add_metric([process], now.udp_drops)
        saturated.add_metric([process], 1.0 if now.saturated else 0.0)
    yield from (lag, cpu, drops, saturated)


class MetricsEndpoint:
    """`GET /metrics` on `host:port` (port 0 picks one; see `port` once started)."""

    def __init__(self, source: LiveSource, port: int, host: str = "127.0.0.1") -> None:
        self.source = source
        self.host = host
        self.port = port
        self._collector = _SnapshotCollector()
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(self._collector)
        self._lock = asyncio.Lock()
        self._runner: web.AppRunner | None = None

    async def _metrics(self, _: web.Request) -> web.Response:
        async with self._lock:  # one snapshot per scrape, scrapes in turn
            self._collector.snapshot = await self.source()
            body = generate_latest(self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])  # the port chosen for 0

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> MetricsEndpoint:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()
