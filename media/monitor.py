"""Per viewed stream quality: the sinks that turn received media into the report's figures."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import av

from media import timecode
from media.analysis import (
    AudioLevels,
    FrameTimeline,
    Series,
    ToneOnsetDetector,
    mark_delay,
    mono_samples,
)
from media.audio_quality import AudioQuality, Window
from media.pacing import AUDIO_SAMPLE_RATE
from media.quality import VideoQuality
from media.reader import Item, Sink


@dataclass
class VideoReport:
    frames: int
    time_to_first_frame: float | None
    fps: float
    freeze_count: int
    total_freeze_duration: float
    codes_read: int
    codes_unreadable: int
    frames_skipped: int
    delay_ms: dict[str, float | None]
    psnr_db: dict[str, float | None] | None = None
    ssim: dict[str, float | None] | None = None
    resolution_changes: int = 0


class VideoMonitor(Sink):
    """Frame timeline of a decoded video stream and its end-to-end delay from the timecode.

    Delay is arrival time minus the send time in the code (sender and receiver share the
    wall clock on loopback; across machines it includes their clock offset). Reading the code
    costs a few hundred microseconds, so `read_every` can thin it out. Sequence numbers reveal
    frames that never arrived (`frames_skipped`), which arrival times alone cannot.
    """

    def __init__(
        self,
        started_at: float | None = None,
        read_every: int = 1,
        quality: VideoQuality | None = None,
    ) -> None:
        self.timeline = FrameTimeline(started_at)
        self.quality = quality
        """Scores sampled frames whose code was read (None: no PSNR/SSIM)."""
        self.delay_ms = Series()
        self.read_every = max(1, read_every)
        self.codes_read = 0
        self.codes_unreadable = 0
        self.frames_skipped = 0
        self.first_code: tuple[int, int] | None = None
        self.last_code: tuple[int, int] | None = None
        self._seen = 0

    async def consume(self, item: Item, received_at: float) -> None:
        if not isinstance(item, av.VideoFrame):
            return
        self._seen += 1
        if (self._seen - 1) % self.read_every:
            self.timeline.add(received_at)
            return
        code = timecode.read(item)
        self.add_frame(received_at, code)
        if self.quality is not None:
            self.quality.add(item, code, received_at)

    def add_frame(self, received_at: float, code: tuple[int, int] | None) -> None:
        """Count one frame whose code was read (None: unreadable), here or elsewhere (a
        browser reads its frames itself), so both kinds of viewer report alike."""
        self.timeline.add(received_at)
        if code is None:
            self.codes_unreadable += 1
            return
        seq, sent_ms = code
        if self.last_code is not None and seq > self.last_code[0]:
            self.frames_skipped += max(0, seq - self.last_code[0] - self.read_every)
        self.first_code = self.first_code or code
        self.last_code = code
        self.codes_read += 1
        self.delay_ms.add(received_at * 1000 - sent_ms)

    def report(self) -> VideoReport:
        return VideoReport(
            frames=self.timeline.frames,
            time_to_first_frame=self.timeline.time_to_first_frame,
            fps=self.timeline.fps,
            freeze_count=self.timeline.freeze_count,
            total_freeze_duration=self.timeline.total_freeze_duration,
            codes_read=self.codes_read,
            codes_unreadable=self.codes_unreadable,
            frames_skipped=self.frames_skipped,
            delay_ms=self.delay_ms.summary(),
            psnr_db=self.quality.psnr_db.summary() if self.quality is not None else None,
            ssim=self.quality.ssim.summary() if self.quality is not None else None,
            resolution_changes=self.quality.resolution_changes if self.quality else 0,
        )


@dataclass
class AudioReport:
    seconds: float
    time_to_first_frame: float | None
    level_dbfs: dict[str, float | None]
    silence_ratio: float
    marks: int
    delay_ms: dict[str, float | None]
    mos: dict[str, float | None] | None = None
    concealed_ratio: float | None = None


class AudioMonitor(Sink):
    """Level and silence of a decoded audio stream, and its delay from timing marks.

    `tone_hz` and `mark_interval` must match the sender's `SyntheticAudioTrack`; leave
    `tone_hz` None for audio without marks. `quality` scores sampled windows (MOS), off the
    event loop: one window at a time, a window due while one is scored is skipped.
    """

    def __init__(
        self,
        started_at: float | None = None,
        tone_hz: float | None = 1000.0,
        mark_interval: float = 1.0,
        quality: AudioQuality | None = None,
    ) -> None:
        self.timeline = FrameTimeline(started_at)
        self.levels = AudioLevels()
        self.delay_ms = Series()
        self.mark_interval = mark_interval
        self.tone_hz = tone_hz
        self._detector: ToneOnsetDetector | None = None
        self.quality = quality
        self._delay: float | None = None
        self._scoring: asyncio.Task[float | None] | None = None

    async def consume(self, item: Item, received_at: float) -> None:
        if not isinstance(item, av.AudioFrame):
            return
        self.timeline.add(received_at)
        samples = mono_samples(item)
        self.levels.add(samples, item.sample_rate)
        pts = item.pts if item.sample_rate == AUDIO_SAMPLE_RATE else None
        if self.quality is not None and pts is not None:
            window = self.quality.add(samples, pts, received_at, self._delay)
            if window is not None and (self._scoring is None or self._scoring.done()):
                self._scoring = asyncio.create_task(self._score(window))
        if self.tone_hz is None:
            return
        if self._detector is None:
            self._detector = ToneOnsetDetector(
                self.tone_hz, item.sample_rate, min_gap=self.mark_interval / 2
            )
        for onset in self._detector.add(samples, received_at):
            delay = mark_delay(onset, self.mark_interval)
            if delay is not None:
                self.delay_ms.add(delay * 1000)
                self._delay = delay

    async def _score(self, window: Window) -> float | None:
        assert self.quality is not None
        return await asyncio.to_thread(self.quality.score, window)

    async def close(self) -> None:
        """Let a window being scored finish, so the report has it."""
        if self._scoring is not None:
            await self._scoring

    def report(self) -> AudioReport:
        return AudioReport(
            seconds=self.levels.total_seconds,
            time_to_first_frame=self.timeline.time_to_first_frame,
            level_dbfs=self.levels.levels.summary(),
            silence_ratio=self.levels.silence_ratio,
            marks=len(self._detector.onsets) if self._detector else 0,
            delay_ms=self.delay_ms.summary(),
            mos=self.quality.mos.summary() if self.quality is not None else None,
            concealed_ratio=self.quality.concealed_ratio if self.quality is not None else None,
        )


def av_sync_ms(video: VideoReport, audio: AudioReport) -> float | None:
    """Audio delay minus video delay (medians): positive when sound lags the picture. Both
    come from the shared wall clock (timecode and scheduled marks), so no lip-sync model is
    needed; None until both have measurements."""
    video_ms, audio_ms = video.delay_ms.get("p50"), audio.delay_ms.get("p50")
    if video_ms is None or audio_ms is None:
        return None
    return audio_ms - video_ms
