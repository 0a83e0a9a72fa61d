"""The sinks of one kind of media of a viewed stream, chosen by the view policy.

They outlive the peer connection: when a lost connection is replaced, the new remote track
feeds the same sinks, so a recording stays one file and the frame timeline shows the
replacement as one freeze instead of starting over.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path

import av
from aiortc import RTCRtpReceiver
from aiortc.mediastreams import MediaStreamTrack

from agent.participant.policy import Reception, ViewPolicy
from agent.webrtc.seams.packet_path import receive_directly
from media import timecode
from media.analysis import AudioLevels, FrameTimeline, Series
from media.audio_quality import AudioQuality
from media.monitor import AudioMonitor, VideoMonitor
from media.passthrough import skip_decoding
from media.quality import VideoQuality
from media.reader import Item, Sink, TrackReader
from media.recorder import VideoRecorder, WavRecorder
from media.rtp_seams import count_frames_from_rtp
from media.sinks import FrameCallback, FrameCounter, KeyframeDecoder, PcmCallback, VideoCallback

__all__ = ["TrackMeasurements", "TrackSinks"]


@dataclass(frozen=True, slots=True)
class TrackMeasurements:
    """What was received of one kind of a viewed stream, over all its peer connections."""

    kind: str
    reception: str
    frames: int
    time_to_first_frame_s: float | None
    fps: float
    freeze_count: int
    total_freeze_s: float
    delay_ms: dict[str, float | None] | None
    """From the video timecode, or the audio timing marks (decoded reception only)."""
    level_dbfs: dict[str, float | None] | None
    silence_ratio: float | None
    packets_received: int
    packets_lost: int
    jitter_s: float | None
    recording: str | None
    psnr_db: dict[str, float | None] | None = None
    """Of sampled frames against the rebuilt synthetic frame (None: not scored)."""
    ssim: dict[str, float | None] | None = None
    resolution_changes: int = 0
    mos: dict[str, float | None] | None = None
    """Wideband PESQ of sampled audio windows against the rebuilt synthetic sound."""
    concealed_ratio: float | None = None
    """Share of the audio samples that never arrived (lost, not repaired)."""
    total_audio_energy: float | None = None
    """Audio decoded so far: WebRTC's `totalAudioEnergy` (mean square times seconds) and
    `totalSamplesDuration`; two readings give the level in between (`energy_dbfs`)."""
    total_samples_duration: float | None = None


class _Kept(Sink):
    """Hands items on, but leaves closing to the owner: a track's end is not the sink's end."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    async def consume(self, item: Item, received_at: float) -> None:
        await self.sink.consume(item, received_at)


class TrackSinks:
    """Sinks for `kind` ("audio" or "video") of one viewed stream."""

    def __init__(
        self, kind: str, policy: ViewPolicy, started_at: float, label: str, stream_id: str = ""
    ) -> None:
        self.kind = kind
        self.stream_id = stream_id
        self.reception = policy.video if kind == "video" else policy.audio
        self.sinks: list[Sink] = []
        self.recording: Path | None = None
        self._delay: Series | None = None
        self._levels: AudioLevels | None = None
        self._audio_quality: AudioQuality | None = None
        self._sampler: KeyframeDecoder | None = None
        self._counter: FrameCounter | None = None
        self.quality: VideoQuality | None = None
        interval = policy.quality_interval
        if kind == "video" and interval is not None and self.reception is not Reception.LIGHT:
            self.quality = VideoQuality(interval, frozen=self.reception is Reception.DECODE)
        if self.reception is Reception.DECODE:
            self.timeline = self._decoded(policy, started_at, label)
        else:
            counter = self._counter = FrameCounter(started_at)
            self.timeline = counter.timeline
            self.sinks.append(counter)
            if self.reception is Reception.SAMPLED:
                callback = _reading_delay(self._delay_series(), self.quality, policy.on_video_frame)
                self._sampler = KeyframeDecoder(callback, interval=policy.sample_interval)
                self.sinks.append(self._sampler)
        self._readers: list[TrackReader] = []

    def _delay_series(self) -> Series:
        self._delay = Series()
        return self._delay

    def _decoded(self, policy: ViewPolicy, started_at: float, label: str) -> FrameTimeline:
        if self.kind == "video":
            video = VideoMonitor(started_at, quality=self.quality)
            self._delay = video.delay_ms
            self.sinks.append(video)
            if policy.record_dir is not None and "video" in policy.record_kinds:
                self.recording = policy.record_dir / f"{label}.mp4"
                self.sinks.append(VideoRecorder(self.recording))
            if policy.on_video_frame is not None:
                self.sinks.append(FrameCallback(policy.on_video_frame, policy.video_frame_every))
            return video.timeline
        if policy.audio_quality_interval is not None:
            self._audio_quality = AudioQuality(interval=policy.audio_quality_interval)
        audio = AudioMonitor(
            started_at,
            tone_hz=policy.tone_hz,
            mark_interval=policy.mark_interval,
            quality=self._audio_quality,
        )
        self._delay = audio.delay_ms
        self._levels = audio.levels
        self.sinks.append(audio)
        if policy.record_dir is not None and "audio" in policy.record_kinds:
            self.recording = policy.record_dir / f"{label}.wav"
            self.sinks.append(WavRecorder(self.recording))
        if policy.on_pcm is not None:
            self.sinks.append(PcmCallback(policy.on_pcm))
        if policy.pcm_per_stream is not None:
            handler = policy.pcm_per_stream(self.stream_id)
            self.sinks.append(PcmCallback(handler, media_clock=True))
        return audio.timeline

    def prepare(self, receiver: RTCRtpReceiver) -> None:
        """Before media flows on a new peer connection: choose decoding for its receiver.

        Light reception counts frames as their packets arrive: no jitter buffer, decoder
        thread or track in between (sampled reception needs whole keyframes, so a track)."""
        if self.reception is Reception.LIGHT and self._counter is not None:
            count_frames_from_rtp(receiver, self._counter.count)
            receive_directly(receiver)
        elif self.reception is not Reception.DECODE:
            skip_decoding(receiver)
        if self._sampler is not None:
            self._sampler.receiver = receiver  # keyframe requests go to the current sender

    def attach(self, track: MediaStreamTrack) -> TrackReader | None:
        """Read a (new) remote track into these sinks (light reception reads none)."""
        if self.reception is Reception.LIGHT:
            return None
        reader = TrackReader(track, [_Kept(sink) for sink in self.sinks]).start()
        self._readers.append(reader)
        return reader

    async def close(self) -> None:
        """Stop reading and finish the sinks (recordings are complete files afterwards)."""
        for reader in self._readers:
            await reader.stop()
        self._readers.clear()
        for sink in self.sinks:
            await sink.close()

    @property
    def frames(self) -> int:
        return self.timeline.frames

    def measurements(self) -> TrackMeasurements:
        """What the sinks counted; the packet statistics (the link's) are the viewer's to add."""
        levels, quality, audio_quality = self._levels, self.quality, self._audio_quality
        return TrackMeasurements(
            kind=self.kind,
            reception=self.reception.value,
            frames=self.timeline.frames,
            time_to_first_frame_s=self.timeline.time_to_first_frame,
            fps=self.timeline.fps,
            freeze_count=self.timeline.freeze_count,
            total_freeze_s=self.timeline.total_freeze_duration,
            delay_ms=self._delay.summary() if self._delay is not None else None,
            level_dbfs=levels.levels.summary() if levels is not None else None,
            silence_ratio=levels.silence_ratio if levels is not None else None,
            packets_received=0,
            packets_lost=0,
            jitter_s=None,
            recording=str(self.recording) if self.recording is not None else None,
            psnr_db=quality.psnr_db.summary() if quality is not None else None,
            ssim=quality.ssim.summary() if quality is not None else None,
            resolution_changes=quality.resolution_changes if quality is not None else 0,
            mos=audio_quality.mos.summary() if audio_quality is not None else None,
            concealed_ratio=audio_quality.concealed_ratio if audio_quality is not None else None,
            total_audio_energy=levels.total_energy if levels is not None else None,
            total_samples_duration=levels.total_seconds if levels is not None else None,
        )


def _reading_delay(
    delay_ms: Series, quality: VideoQuality | None, then: VideoCallback | None
) -> VideoCallback:
    """Sampled keyframes carry the sender's timecode too: each gives one delay figure, so
    a light-on-CPU viewer still measures the end-to-end delay (once per keyframe)."""

    def on_keyframe(frame: av.VideoFrame, received_at: float) -> Awaitable[None] | None:
        code = timecode.read(frame)
        if code is not None:
            delay_ms.add(received_at * 1000 - code[1])
        if quality is not None:
            quality.add(frame, code, received_at)
        return then(frame, received_at) if then is not None else None

    return on_keyframe
