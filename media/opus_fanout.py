"""Encode once, send many, for audio: one source encoded to Opus once, its packets handed to
every subscriber's sender, which then only packetizes (the audio half of `media.fanout`)."""

from __future__ import annotations

import asyncio
import fractions
import logging
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.fanout import PacketQueueTrack

__all__ = ["OpusFanoutTrack", "SharedOpusEncoder"]

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
