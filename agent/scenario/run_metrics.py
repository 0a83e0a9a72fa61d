"""Sampling one participant's streams into `StreamResult`s while the run goes on.

The participant's measurements are cumulative (frames, packets, a delay summary); the
report wants series over time, so each sample turns the change since the previous one into
a figure at that time: frames per second, the mean delay of the frames in between, the
bitrate over the interval."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from agent.participant import Publisher, TrackMeasurements, Viewer, ViewerMeasurements
from agent.scenario.results import Freeze, Sample, StreamDirection, StreamResult
from agent.scenario.run_clock import RunClock
from media.analysis import energy_dbfs

__all__ = ["PublishTracker", "Total", "ViewSeries", "ViewTracker"]


@dataclass
class PublishTracker:
    """One published stream and what it sent, whichever publisher sends it now."""

    publisher: Publisher
    result: StreamResult
    follow: Callable[[Publisher], Publisher] = lambda publisher: publisher
    """The publisher sending a publisher's tracks now (`Participant.current`): a resume
    publishes them again with a new one, under a new stream id."""

    def current(self) -> Publisher:
        self.publisher = self.follow(self.publisher)
        return self.publisher

    async def sample(self, clock: RunClock) -> None:
        figures = await self.current().measurements()
        if figures.stream_id and figures.stream_id != self.result.stream_id:
            # republished after a lost connection: views of the old id showed it too
            self.result.earlier_ids.append(self.result.stream_id)
            self.result.stream_id = figures.stream_id
        if figures.bitrate_bps is not None:
            self.result.bitrate.append(Sample(t=clock.now(), value=figures.bitrate_bps))

    def end(self, clock: RunClock) -> None:
        if self.result.ended_at is None:
            self.result.ended_at = clock.now()


class Total:
    """A running total fed by a counter that may start again from zero.

    A viewed stream's counters are those of its current peer connections: a reconnection, or
    a last sample taken after the link is gone, reads lower figures than before. A reading
    below the previous one is a new counter; what the old one counted stays counted, so a
    total never goes down (a stream that received frames keeps its packets)."""

    __slots__ = ("_base", "_last")

    def __init__(self) -> None:
        self._base = 0
        self._last = 0

    def read(self, counter: int) -> int:
        if counter < self._last:
            self._base += self._last
        self._last = counter
        return self._base + counter


class ViewSeries:
    """Cumulative figures of one viewed stream turned into series in `result`: an agent's
    viewer and a browser's page (`agent.scenario.run_browser`) both feed it."""

    result: StreamResult
    _last_t: float | None = None
    _last_frames: int = 0
    _means: dict[str, _NewMean] | None = None
    _energy: tuple[float, float] = (0.0, 0.0)
    """The audio's (energy, seconds) at the previous sample (`_take_level`)."""
    _pending_sync: dict[str, float] | None = None
    """The newest audio and video delay means (ms) not yet paired into an A/V sync sample."""

    def __init__(self, result: StreamResult) -> None:
        self.result = result
        self.__post_init__()

    def __post_init__(self) -> None:
        """Also run by the dataclass `__init__` of a subclass."""
        self._received = Total()
        self._lost = Total()
        self._frame_total = Total()

    def _new_mean(self, name: str) -> _NewMean:
        # Made on first use: a dataclass subclass (ViewTracker) does not call this __init__.
        if self._means is None:
            self._means = {}
        return self._means.setdefault(name, _NewMean())

    def take(self, figures: ViewerMeasurements, main_kind: str, now: float) -> None:
        self.result.viewer_id = figures.viewer_id or self.result.viewer_id
        tracks = figures.tracks
        self.result.reception.update({kind: track.reception for kind, track in tracks.items()})
        main = tracks.get(main_kind)
        received = self._received.read(sum(t.packets_received for t in tracks.values()))
        lost = self._lost.read(sum(t.packets_lost for t in tracks.values()))
        new_received = received - self.result.packets_received
        new_lost = lost - self.result.packets_lost
        if new_received + new_lost > 0:
            share = max(0.0, min(1.0, new_lost / (new_received + new_lost)))
            self.result.loss.append(Sample(t=now, value=share))
        self.result.packets_received = received
        self.result.packets_lost = lost
        if figures.bitrate_bps is not None:
            self.result.bitrate.append(Sample(t=now, value=figures.bitrate_bps))
        if main is not None:
            self._frames(main, now)
            if main.time_to_first_frame_s is not None:
                self.result.first_frame_time = max(0.0, main.time_to_first_frame_s)
            if main.jitter_s is not None:
                self.result.jitter.append(Sample(t=now, value=main.jitter_s))
        for track in tracks.values():
            self._take_delay(track, main_kind, now)
        audio, video = tracks.get("audio"), tracks.get("video")
        if audio is not None:
            self._take_level(audio, now)
            if video is not None:
                self._take_sync(audio, video, now)
        if video is not None:
            for series, name, summary in (
                (self.result.psnr, "psnr", video.psnr_db),
                (self.result.ssim, "ssim", video.ssim),
            ):
                mean = self._new_mean(name).take(summary)
                if mean is not None:
                    series.append(Sample(t=now, value=mean))
        audio = tracks.get("audio")
        if audio is not None:
            mos = self._new_mean("mos").take(audio.mos)
            if mos is not None:
                self.result.mos.append(Sample(t=now, value=mos))
            if audio.concealed_ratio is not None:
                self.result.concealed = audio.concealed_ratio

    def _frames(self, main: TrackMeasurements, now: float) -> None:
        frames = self._frame_total.read(main.frames)
        self.result.frames = frames
        if self._last_t is not None and now > self._last_t and main.kind == "video":
            rate = (frames - self._last_frames) / (now - self._last_t)
            self.result.fps.append(Sample(t=now, value=rate))
        self._last_t = now
        self._last_frames = frames

    def _take_level(self, audio: TrackMeasurements, now: float) -> None:
        """The level of the audio decoded since the last sample, from its running energy."""
        energy, seconds = audio.total_audio_energy, audio.total_samples_duration
        if energy is None or seconds is None:
            return
        last_energy, last_seconds = self._energy
        if seconds < last_seconds:  # counters started again (a browser's new connection)
            last_energy, last_seconds = 0.0, 0.0
        self._energy = (energy, seconds)
        if seconds - last_seconds > 0:
            level = energy_dbfs(energy - last_energy, seconds - last_seconds)
            self.result.audio_level.append(Sample(t=now, value=level))

    def _take_sync(self, audio: TrackMeasurements, video: TrackMeasurements, now: float) -> None:
        """Audio delay less video delay, once both measured something new: the marks come
        once a second and sampled video once per keyframe, so one may wait for the other."""
        if self._pending_sync is None:
            self._pending_sync = {}
        pending = self._pending_sync
        for kind, track in (("audio", audio), ("video", video)):
            mean = self._new_mean(f"sync_{kind}").take(track.delay_ms)
            if mean is not None:
                pending[kind] = mean
        if "audio" in pending and "video" in pending:
            offset_ms = pending.pop("audio") - pending.pop("video")
            self.result.av_sync.append(Sample(t=now, value=offset_ms / 1000.0))

    def _take_delay(self, track: TrackMeasurements, main_kind: str, now: float) -> None:
        """The mean delay of the frames measured since the last sample, from the summary.

        Only the video delay is used when there is video (audio marks come once a second
        and would only dilute it); a MIC stream's delay comes from its marks."""
        if track.kind != main_kind:
            return
        new_mean_ms = self._new_mean("delay").take(track.delay_ms)
        if new_mean_ms is not None:
            self.result.delay.append(Sample(t=now, value=max(0.0, new_mean_ms) / 1000.0))


class _NewMean:
    """The mean of the values added to a cumulative summary (count, mean) since last time."""

    def __init__(self) -> None:
        self.count = 0.0
        self.total = 0.0

    def take(self, summary: dict[str, float | None] | None) -> float | None:
        if not summary:
            return None
        count = summary.get("count") or 0.0
        mean = summary.get("mean")
        if mean is None or count <= self.count:
            return None
        total = mean * count
        new_mean = (total - self.total) / (count - self.count)
        self.count, self.total = count, total
        return new_mean


@dataclass
class ViewTracker(ViewSeries):
    """One viewed stream and what arrived of it."""

    viewer: Viewer
    result: StreamResult
    _freezes_seen: int = field(default=0)

    @property
    def _main_kind(self) -> str:
        return "video" if "video" in self.viewer.sinks else "audio"

    async def sample(self, clock: RunClock) -> None:
        self.take(await self.viewer.measurements(), self._main_kind, clock.now())
        self._freezes(clock)

    def _freezes(self, clock: RunClock) -> None:
        sinks = self.viewer.sinks.get("video")
        if sinks is None:
            return
        found = sinks.timeline.freezes
        for freeze in found[self._freezes_seen :]:
            start = clock.from_wall(freeze.start)
            self.result.freezes.append(Freeze(start=start, duration=freeze.duration))
        self._freezes_seen = len(found)

    def end(self, clock: RunClock) -> None:
        if self.result.ended_at is None:
            self.result.ended_at = clock.now()


def new_stream(
    stream_id: str,
    direction: StreamDirection,
    stream_type: str,
    started_at: float,
    publisher: str | None = None,
) -> StreamResult:
    return StreamResult(
        stream_id=stream_id,
        direction=direction,
        stream_type=stream_type,
        publisher=publisher,
        started_at=started_at,
    )
