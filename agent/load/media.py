"""Media for many participants in one process: one source and one encode for all of them.

`SharedMedia` is the agent's lever: one synthetic video source encoded once (`SharedEncoder`)
and one audio source encoded to Opus once (`SharedOpusEncoder`), their packets handed to every
participant's senders, which then only packetize. `NaiveMedia` is the comparison: the same
sources relayed to each participant, so each sender runs its own encoder, as aiortc does
by default (the sources still render once, so the comparison is about encoding and decoding).
"""

from __future__ import annotations

import asyncio
import fractions
import logging
from abc import ABC, abstractmethod
from typing import Any

import av
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from agent.api.models import ConferenceStreamType
from agent.participant import Reception, ViewPolicy
from agent.webrtc.factory import media_kinds
from media.audio import SyntheticAudioTrack
from media.fanout import PacketQueueTrack, SharedEncoder
from media.video import SyntheticVideoTrack

__all__ = [
    "MediaPlan",
    "NaiveMedia",
    "SharedMedia",
    "SharedOpusEncoder",
]

log = logging.getLogger(__name__)

OPUS_RATE = 48_000
OPUS_BITRATE = 32_000
SUBSCRIBER_QUEUE = 50
"""Packets (1 s of audio) a slow subscriber may fall behind before it loses the oldest."""


class SharedOpusEncoder:
    """Encodes one audio source to Opus once; every subscriber's sender only packetizes.

    Audio packets decode on their own, so a late subscriber starts with the next packet and
    a subscriber that falls behind loses its oldest packets (a short gap, as loss would)."""

    def __init__(self, source: MediaStreamTrack, bitrate: int = OPUS_BITRATE) -> None:
        if source.kind != "audio":
            raise ValueError("SharedOpusEncoder encodes audio")
        self.source = source
        self.bitrate = bitrate
        self.packets_encoded = 0
        self._subscribers: set[OpusFanoutTrack] = set()
        self._task: asyncio.Task[None] | None = None

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def subscribe(self) -> OpusFanoutTrack:
        track = OpusFanoutTrack(self)
        self._subscribers.add(track)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        return track

    def _unsubscribe(self, track: OpusFanoutTrack) -> None:
        self._subscribers.discard(track)
        if not self._subscribers:
            self.close()

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        for track in list(self._subscribers):
            track.stop()
        self._subscribers.clear()

    def _context(self) -> Any:
        context = av.CodecContext.create("libopus", "w")
        context.bit_rate = self.bitrate
        context.format = "s16"
        context.layout = "stereo"
        context.sample_rate = OPUS_RATE
        context.time_base = fractions.Fraction(1, OPUS_RATE)
        return context

    async def _run(self) -> None:
        context = self._context()
        resampler = av.AudioResampler(format="s16", layout="stereo", rate=OPUS_RATE)
        try:
            while True:
                frame = await self.source.recv()
                if not isinstance(frame, av.AudioFrame):
                    raise TypeError("SharedOpusEncoder needs a source of decoded audio frames")
                for resampled in resampler.resample(frame):
                    for packet in context.encode(resampled):
                        packet.time_base = fractions.Fraction(1, OPUS_RATE)
                        self.packets_encoded += 1
                        for track in list(self._subscribers):
                            track._offer(packet)
        except MediaStreamError:
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("shared Opus encoder stopped")
        finally:
            for track in list(self._subscribers):
                track._offer(None)


class OpusFanoutTrack(PacketQueueTrack):
    """An audio track whose `recv()` returns the shared encoder's Opus `av.Packet`s."""

    kind = "audio"

    def _offer(self, packet: av.Packet[Any] | None) -> None:
        # Audio has no keyframes: a lagging consumer loses its oldest packet, not its stream.
        if packet is not None and not self.pushed and self._queue.qsize() >= SUBSCRIBER_QUEUE:
            self._queue.get_nowait()
            self.packets_dropped += 1
        self._deliver(packet)


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
        self.audio = SyntheticAudioTrack(marks=True) if "audio" in kinds else None

    def stop(self) -> None:
        for source in (self.video, self.audio):
            if source is not None:
                source.stop()


class SharedMedia(MediaPlan):
    """Encode once, send many; light reception (frames counted, nothing decoded)."""

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
        self._sources = _Sources(stream_type, width, height, fps)
        self.video = (
            SharedEncoder(self._sources.video, "VP8", video_bitrate)
            if self._sources.video is not None
            else None
        )
        self.audio = (
            SharedOpusEncoder(self._sources.audio) if self._sources.audio is not None else None
        )

    def tracks(self) -> dict[str, MediaStreamTrack]:
        tracks: dict[str, MediaStreamTrack] = {}
        if self.video is not None:
            tracks["video"] = self.video.subscribe()
        if self.audio is not None:
            tracks["audio"] = self.audio.subscribe()
        return tracks

    def view_policy(self) -> ViewPolicy:
        return ViewPolicy(video=self.reception)

    def close(self) -> None:
        if self.video is not None:
            self.video.close()
        if self.audio is not None:
            self.audio.close()
        self._sources.stop()


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
