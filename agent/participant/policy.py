"""What a participant views and how it treats what it receives; how hard it retries.

The default is the light receiver: frames are counted from the encoded stream, nothing is
decoded, so hundreds of viewers fit in a process. Anything that needs pixels or samples
(the timecode delay, audio level, recording, callbacks) asks for decoding explicitly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from agent.api.models import ConferenceStreamType
from media.audio_quality import MOS_WINDOW
from media.sinks import PcmHandler, VideoCallback

__all__ = ["Reception", "ResumePolicy", "RetryPolicy", "ViewPolicy"]


class Reception(StrEnum):
    LIGHT = "light"
    """Count encoded frames without a decoder (fps, freezes, time to first frame)."""
    DECODE = "decode"
    """Decode everything: timecode delay for video, level, silence and marks for audio."""
    SAMPLED = "sampled"
    """Video only: decode keyframes alone, asking for one every `sample_interval` seconds."""


@dataclass(frozen=True, slots=True)
class ViewPolicy:
    """Which streams of the others to view, and which sinks their media goes to.

    `record_dir` records every viewed stream (video .mp4, audio .wav) and so decodes it;
    `on_video_frame` gets decoded frames (every `video_frame_every`-th, or each sampled
    keyframe), `on_pcm` 16 kHz mono PCM; both need the corresponding decoding.
    """

    auto_view: bool = True
    stream_types: frozenset[ConferenceStreamType] | None = None
    video: Reception = Reception.LIGHT
    audio: Reception = Reception.LIGHT
    sample_interval: float = 1.0
    record_dir: Path | None = None
    record_kinds: frozenset[str] = frozenset({"audio", "video"})
    """Which kinds `record_dir` records (a scenario's `record: {audio: false}`)."""
    on_video_frame: VideoCallback | None = None
    video_frame_every: int = 1
    on_pcm: PcmHandler | None = None
    pcm_per_stream: Callable[[str], PcmHandler] | None = None
    """Called once per viewed audio stream with its stream id; returns that stream's PCM
    handler (a `media.transcription.Transcriber`'s `stream`, which keeps streams apart)."""
    tone_hz: float | None = 1000.0
    """Frequency of the sender's audio timing marks (None: audio without marks)."""
    mark_interval: float = 1.0
    quality_interval: float | None = 1.0
    """Seconds between decoded frames scored for PSNR/SSIM against the rebuilt synthetic
    frame (`media.quality`; sampled reception scores its keyframes); None: not scored."""
    audio_quality_interval: float | None = 10.0
    """Seconds between decoded audio windows (4 s each) scored for MOS (wideband PESQ)
    against the rebuilt synthetic sound (`media.audio_quality`); None: not scored."""

    def __post_init__(self) -> None:
        if self.audio is Reception.SAMPLED:
            raise ValueError("audio reception is light or decode; sampled applies to video")
        if self.sample_interval <= 0:
            raise ValueError(f"sample_interval must be positive, got {self.sample_interval}")
        if self.quality_interval is not None and self.quality_interval < 0:
            raise ValueError(f"quality_interval must be >= 0, got {self.quality_interval}")
        if self.audio_quality_interval is not None and self.audio_quality_interval < MOS_WINDOW:
            raise ValueError(
                f"audio_quality_interval must be >= the {MOS_WINDOW:g} s MOS window, got"
                f" {self.audio_quality_interval}"
            )
        if self.video_frame_every < 1:
            raise ValueError(f"video_frame_every must be >= 1, got {self.video_frame_every}")
        needs_video = self.record_dir is not None or self.on_video_frame is not None
        if needs_video and self.video is Reception.LIGHT:
            raise ValueError("recording or a video callback needs video=decode (or sampled)")
        if self.record_dir is not None and self.video is Reception.SAMPLED:
            raise ValueError("recording needs every frame decoded: video=decode")
        needs_audio = (
            self.record_dir is not None
            or self.on_pcm is not None
            or self.pcm_per_stream is not None
        )
        if needs_audio and self.audio is Reception.LIGHT:
            raise ValueError("recording or a PCM callback needs audio=decode")

    @classmethod
    def measuring(cls, **changes: object) -> ViewPolicy:
        """Decode both kinds: every measurement available (delay, level, silence)."""
        fields: dict[str, object] = {"video": Reception.DECODE, "audio": Reception.DECODE}
        fields.update(changes)
        return cls(**fields)  # type: ignore[arg-type]

    def wants(self, stream_type: ConferenceStreamType | str | None) -> bool:
        """Whether a stream the others publish is viewed automatically."""
        if not self.auto_view:
            return False
        if self.stream_types is None:
            return True
        try:
            return ConferenceStreamType(str(stream_type)) in self.stream_types
        except ValueError:
            return False


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries with exponential backoff, for replacing a lost peer connection."""

    attempts: int = 5
    initial: float = 0.5
    maximum: float = 8.0
    connect_timeout: float = 20.0
    """A peer connection not connected after this long counts as failed."""

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (0 for the first)."""
        return float(min(self.initial * 2 ** min(attempt, 16), self.maximum))


@dataclass(frozen=True, slots=True)
class ResumePolicy:
    """How a participant comes back after losing its registration or the platform (issue 16).

    Keepalives that get no answer (platform restarting, unreachable) are retried after
    `initial`, doubling to `maximum` (never slower than the keepalive period). A keepalive the
    platform answers with "gone" starts a resume: re-register, event channel, rejoin,
    republish, view again; each attempt that fails waits the same backoff. `give_up_after`
    bounds how long it keeps trying (None: for ever, as a kiosk should); `enabled=False`
    restores the old behaviour (the participant just records that it was lost)."""

    enabled: bool = True
    initial: float = 0.5
    maximum: float = 15.0
    give_up_after: float | None = None
    media_timeout: float = 30.0
    """How long a resume waits for its streams to connect before it records them as not back."""

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.maximum < self.initial:
            raise ValueError("resume backoff needs 0 < initial <= maximum")
        if self.give_up_after is not None and self.give_up_after <= 0:
            raise ValueError(f"give_up_after must be positive, got {self.give_up_after}")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt` (0 for the first)."""
        return float(min(self.initial * 2 ** min(attempt, 16), self.maximum))
