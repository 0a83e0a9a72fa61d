"""Media for many participants in one process: one source and one encode for all of them.

`SharedMedia` is the agent's lever: one synthetic video source encoded once (`SharedEncoder`)
and one audio source encoded to Opus once (`SharedOpusEncoder`), their packets handed to every
participant's senders, which then only packetize; it is the participant core's
`MediaSources`, the same path a scenario run publishes through. `NaiveMedia` is the
comparison: the same sources relayed to each participant, so each sender runs its own
encoder, as aiortc does by default (the sources still render once, so the comparison is about
encoding and decoding).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod

from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack

from agent.api.models import ConferenceStreamType
from agent.participant import Reception, ViewPolicy
from agent.participant.sources import MediaSources, SourceProfile
from agent.webrtc.factory import media_kinds
from media.audio import SyntheticAudioTrack
from media.video import SyntheticVideoTrack

__all__ = ["MediaPlan", "NaiveMedia", "SharedMedia"]

log = logging.getLogger(__name__)


class MediaPlan(ABC):
    """What each participant of a run publishes and how it receives what it views."""

    stream_type: ConferenceStreamType

    @abstractmethod
    def tracks(self) -> dict[str, MediaStreamTrack]:
        """Tracks for one more participant's published stream (kind -> track)."""

    @abstractmethod
    def view_policy(self) -> ViewPolicy: ...

    @abstractmethod
    def close(self) -> None: ...

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(media_kinds(self.stream_type))


class _Sources:
    """The one rendered source of each kind a plan needs."""

    def __init__(
        self, stream_type: ConferenceStreamType, width: int, height: int, fps: float
    ) -> None:
        kinds = media_kinds(stream_type)
        self.video = SyntheticVideoTrack(width, height, fps) if "video" in kinds else None
        self.audio = SyntheticAudioTrack(marks=True, speech=True) if "audio" in kinds else None

    def stop(self) -> None:
        for source in (self.video, self.audio):
            if source is not None:
                source.stop()


class SharedMedia(MediaPlan):
    """Encode once, send many (the participant core's `MediaSources`, as a scenario run
    publishes by default); light reception (frames counted, nothing decoded)."""

    def __init__(
        self,
        stream_type: ConferenceStreamType = ConferenceStreamType.MIC_AND_CAM,
        *,
        width: int = 640,
        height: int = 360,
        fps: float = 30.0,
        video_bitrate: int = 800_000,
        reception: Reception = Reception.LIGHT,
    ) -> None:
        self.stream_type = stream_type
        self.reception = reception
        self.profile = SourceProfile(
            "synthetic", width=width, height=height, fps=fps, video_bitrate=video_bitrate
        )
        self.sources = MediaSources()
        kinds = media_kinds(stream_type)
        self.video = self.sources.shared_video(self.profile) if "video" in kinds else None
        self.audio = self.sources.shared_audio(self.profile) if "audio" in kinds else None

    def tracks(self) -> dict[str, MediaStreamTrack]:
        return self.sources.open(self.profile, self.kinds).tracks

    def view_policy(self) -> ViewPolicy:
        return ViewPolicy(video=self.reception)

    def close(self) -> None:
        self.sources.close()


class NaiveMedia(MediaPlan):
    """aiortc as is: an encoder per sender and a decoder per receiver (measuring what it
    decodes: timecode delay, audio level and marks)."""

    def __init__(
        self,
        stream_type: ConferenceStreamType = ConferenceStreamType.MIC_AND_CAM,
        *,
        width: int = 640,
        height: int = 360,
        fps: float = 30.0,
    ) -> None:
        self.stream_type = stream_type
        self._sources = _Sources(stream_type, width, height, fps)
        self._relay = MediaRelay()

    def tracks(self) -> dict[str, MediaStreamTrack]:
        tracks: dict[str, MediaStreamTrack] = {}
        for source in (self._sources.video, self._sources.audio):
            if source is not None:
                tracks[source.kind] = self._relay.subscribe(source, buffered=False)
        return tracks

    def view_policy(self) -> ViewPolicy:
        return ViewPolicy.measuring()

    def close(self) -> None:
        self._sources.stop()
