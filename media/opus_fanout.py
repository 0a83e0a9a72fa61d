"""Encode once, send many, for audio: one source encoded to Opus once, its packets handed to
every subscriber's sender, which then only packetizes (the audio half of `media.fanout`)."""

from __future__ import annotations

import fractions
import logging
from typing import Any

import av
from aiortc.mediastreams import MediaStreamTrack

from media.fanout import FanoutEncoder, PacketQueueTrack

__all__ = ["OpusFanoutTrack", "SharedOpusEncoder"]

log = logging.getLogger(__name__)

OPUS_RATE = 48_000
OPUS_BITRATE = 32_000
SUBSCRIBER_QUEUE = 50
"""Packets (1 s of audio) a slow subscriber may fall behind before it loses the oldest."""


class SharedOpusEncoder(FanoutEncoder["OpusFanoutTrack"]):
    """Encodes one audio source to Opus once; every subscriber's sender only packetizes.

    Audio packets decode on their own, so a late subscriber starts with the next packet and
    a subscriber that falls behind loses its oldest packets (a short gap, as loss would)."""

    name = "shared Opus"

    def __init__(self, source: MediaStreamTrack, bitrate: int = OPUS_BITRATE) -> None:
        if source.kind != "audio":
            raise ValueError("SharedOpusEncoder encodes audio")
        super().__init__(source)
        self.bitrate = bitrate
        self.packets_encoded = 0
        self._encoder: tuple[Any, av.AudioResampler] | None = None

    def _new_track(self) -> OpusFanoutTrack:
        return OpusFanoutTrack(self)

    def close(self) -> None:
        super().close()
        self._encoder = None  # a new loop starts with a new encoder

    def _context(self) -> Any:
        context = av.CodecContext.create("libopus", "w")
        context.bit_rate = self.bitrate
        context.format = "s16"
        context.layout = "stereo"
        context.sample_rate = OPUS_RATE
        context.time_base = fractions.Fraction(1, OPUS_RATE)
        return context

    async def _fan_out(self, frame: object) -> None:
        """One encoding for every subscriber."""
        for packet in self._packets(frame):
            for track in list(self._subscribers):
                track._offer(packet)

    def _packets(self, frame: object) -> list[av.Packet[Any]]:
        if not isinstance(frame, av.AudioFrame):
            raise TypeError("SharedOpusEncoder needs a source of decoded audio frames")
        if self._encoder is None:
            resampler = av.AudioResampler(format="s16", layout="stereo", rate=OPUS_RATE)
            self._encoder = (self._context(), resampler)
        context, resampler = self._encoder
        packets: list[av.Packet[Any]] = []
        for resampled in resampler.resample(frame):
            for packet in context.encode(resampled):
                packet.time_base = fractions.Fraction(1, OPUS_RATE)
                packets.append(packet)
        self.packets_encoded += len(packets)
        return packets


class OpusFanoutTrack(PacketQueueTrack):
    """An audio track whose `recv()` returns the shared encoder's Opus `av.Packet`s."""

    kind = "audio"

    def _offer(self, packet: av.Packet[Any] | None) -> None:
        # Audio has no keyframes: a lagging consumer loses its oldest packet, not its stream.
        if packet is not None and not self.pushed and self._queue.qsize() >= SUBSCRIBER_QUEUE:
            self._queue.get_nowait()
            self.packets_dropped += 1
        self._deliver(packet)
