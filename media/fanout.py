"""Encode once, send many: one encoder whose packets feed any number of senders.

Each `RTCRtpSender` normally owns an encoder; N publishers of the same source then pay N
encodes. A `SharedEncoder` pulls frames from one source, encodes each once with PyAV, and hands
the same `av.Packet[Any]` to every `FanoutTrack` it made; aiortc's sender only packetizes packets.

Keyframes: a track that subscribes late waits for a keyframe and asks for one, so it never
starts mid-GOP; `bind_sender()` routes the far end's PLI/FIR to the shared encoder. Requests
are coalesced (one forced keyframe per `keyframe_min_interval`), so N viewers that lose a
picture at once cost one keyframe. The default, 0.25 s, bounds what a viewer joining during
a storm waits for its first picture; libwebrtc's sender answers every request by default
(its minimum keyframe interval is an off-by-default field trial), so this is the more
conservative of the two. The packets are in one codec: negotiate that codec on every
sender (`prefer_codec`), or the far end receives a bitstream it cannot decode.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import os
import time
from abc import ABC, abstractmethod
from typing import Any, Generic, Protocol, TypeVar

import av
from aiortc import RTCRtpSender, RTCRtpTransceiver
from aiortc.codecs.vpx import number_of_threads
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpsender import RTCRtpSender as _Sender
from av.video.codeccontext import VideoCodecContext

from agent.webrtc.seams.rtp_push import PacketPusher, on_keyframe_request, on_remb
from media.pacing import VIDEO_TIME_BASE

logger = logging.getLogger(__name__)

CODECS = {"VP8": "libvpx", "H264": "libx264"}
# aiortc's own encoder settings, so a shared stream looks like a normal aiortc one, except
# the temporal denoiser ("noise-sensitivity"): synthetic sources have no sensor noise, and
# at 320x180 it blends timecode cells with the previous frame (measured: 130/150 frames
# readable with it at 500 kbit/s, 150/150 without).
VP8_OPTIONS = {
    "cpu-used": "-6",
    "deadline": "realtime",
    "lag-in-frames": "0",
    "noise-sensitivity": "0",
    "overshoot-pct": "15",
    "partitions": "0",
    "static-thresh": "1",
    "undershoot-pct": "100",
}
H264_OPTIONS = {"level": "31", "tune": "zerolatency"}
SUBSCRIBER_QUEUE = 60
T = TypeVar("T", bound="PacketQueueTrack")


def prefer_codec(transceiver: RTCRtpTransceiver, codec: str) -> None:
    """Restrict a transceiver to one video codec ("VP8" or "H264") and its RTX."""
    wanted = f"video/{codec}".lower()
    capabilities = _Sender.getCapabilities("video").codecs
    chosen = [c for c in capabilities if c.mimeType.lower() in (wanted, "video/rtx")]
    if not any(c.mimeType.lower() == wanted for c in chosen):
        raise ValueError(f"codec {codec} is not supported by aiortc")
    transceiver.setCodecPreferences(chosen)


class FanoutEncoder(ABC, Generic[T]):
    """One source encoded once for all its subscriber tracks (video: `SharedEncoder`, audio:
    `media.opus_fanout.SharedOpusEncoder`): the subscriptions and the encode loop, which
    starts with the first subscriber and stops with the last one (or on `close()`)."""

    name = "shared"

    def __init__(self, source: MediaStreamTrack) -> None:
        self.source = source
        self._subscribers: set[T] = set()
        self._task: asyncio.Task[None] | None = None

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    @abstractmethod
    def _new_track(self) -> T:
        """A new subscriber track of this encoder."""

    @abstractmethod
    async def _packets(self, frame: object) -> list[av.Packet[Any]]:
        """The packets of one source frame (counted by the subclass)."""

    def subscribe(self) -> T:
        """A new track carrying this encoder's packets."""
        track = self._new_track()
        self._subscribers.add(track)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        return track

    def _unsubscribe(self, track: T) -> None:
        self._subscribers.discard(track)
        if not self._subscribers:
            self.close()

    def close(self) -> None:
        """Stop encoding and end every subscriber's track."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        for track in list(self._subscribers):
            track.stop()
        self._subscribers.clear()

    async def _run(self) -> None:
        try:
            while True:
                for packet in await self._packets(await self.source.recv()):
                    for track in list(self._subscribers):
                        track._offer(packet)
        except MediaStreamError:
            pass
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("%s encoder stopped", self.name)
        finally:
            for track in list(self._subscribers):
                track._offer(None)


MIN_SHARED_BITRATE = 100_000
"""The lowest bitrate REMB brings a shared encoder to (a picture still worth decoding)."""
RETARGET_RATIO = 0.1
"""A REMB moves a shared encoder's bitrate when it is this much away from the current one."""
RETARGET_INTERVAL = 1.0
"""Seconds between two bitrate changes at most (each re-opens the encoder: a keyframe)."""


class SharedEncoder(FanoutEncoder["FanoutTrack"]):
    """Encodes `source` once for all its subscribers.

    The encode loop starts with the first subscriber and stops when the last one stops (or on
    `close()`); `encoder_constructions` counts PyAV encoder contexts created (one per size
    change or bitrate change), so tests can check that N subscribers cost one encoder.

    Bandwidth: each subscriber's sender passes on the REMB its far end sends (`bind_sender`);
    the encoder runs at the lowest of them, within [`MIN_SHARED_BITRATE`, `max_bitrate`] (the
    profile's bitrate). One encoding for all: the slowest receiver sets the rate for every
    stream of the profile in the process, as one encoder for everyone means. PyAV cannot
    change a running libvpx's rate, so a change re-opens the encoder (a keyframe), at most
    once per `RETARGET_INTERVAL` and only past `RETARGET_RATIO`.
    """

    def __init__(
        self,
        source: MediaStreamTrack,
        codec: str = "VP8",
        bitrate: int = 500_000,
        keyframe_min_interval: float = 0.25,
    ) -> None:
        if codec not in CODECS:
            raise ValueError(f"codec must be one of {sorted(CODECS)}, got {codec!r}")
        if source.kind != "video":
            raise ValueError("SharedEncoder encodes video; share audio by sending one track")
        super().__init__(source)
        self.name = f"shared {codec}"
        self.codec = codec
        self.bitrate = bitrate
        self.max_bitrate = bitrate
        self.keyframe_min_interval = keyframe_min_interval
        self._estimates: dict[int, int] = {}
        self._retargeted_at = -float("inf")
        self.encoder_constructions = 0
        self.frames_encoded = 0
        self.keyframes_encoded = 0
        self._context: VideoCodecContext | None = None
        self._keyframe_wanted = True
        self._last_keyframe = -float("inf")

    def _new_track(self) -> FanoutTrack:
        self.request_keyframe()  # the new track starts at the next keyframe
        return FanoutTrack(self)

    def request_keyframe(self) -> None:
        """Ask that the next frame be a keyframe (coalesced, see the module docstring)."""
        self._keyframe_wanted = True

    def take_estimate(self, track: FanoutTrack, bitrate: int) -> None:
        """A subscriber's receiver estimated `bitrate` (REMB): follow the lowest estimate."""
        self._estimates[id(track)] = bitrate
        self._retarget()

    def _unsubscribe(self, track: FanoutTrack) -> None:
        self._estimates.pop(id(track), None)
        super()._unsubscribe(track)
        self._retarget()

    def _retarget(self) -> None:
        target = min([self.max_bitrate, *self._estimates.values()])
        target = max(min(MIN_SHARED_BITRATE, self.max_bitrate), target)
        now = time.monotonic()
        if abs(target - self.bitrate) <= RETARGET_RATIO * self.bitrate:
            return
        if now - self._retargeted_at < RETARGET_INTERVAL:
            return
        self._retargeted_at = now
        self.bitrate = target
        self._context = None  # re-opened at the new rate on the next frame

    def _open(self, frame: av.VideoFrame) -> VideoCodecContext:
        context = av.Codec(CODECS[self.codec], "w").create("video")
        context.width = frame.width
        context.height = frame.height
        context.pix_fmt = "yuv420p"
        context.bit_rate = self.bitrate
        context.time_base = fractions.Fraction(1, 90_000)
        # Same thread count as aiortc's own VP8 encoder, so a comparison is like for like.
        context.thread_count = number_of_threads(frame.width * frame.height, os.cpu_count() or 1)
        if self.codec == "VP8":
            context.gop_size = 3000
            context.qmin = 2
            context.qmax = 56
            bitrate = str(self.bitrate)
            context.options = {
                **VP8_OPTIONS,
                "bufsize": bitrate,
                "minrate": bitrate,
                "maxrate": bitrate,
            }
        else:
            context.framerate = fractions.Fraction(30, 1)
            context.options = H264_OPTIONS
            context.profile = "Baseline"
        self.encoder_constructions += 1
        return context

    def _encode(self, frame: av.VideoFrame, keyframe: bool) -> list[av.Packet[Any]]:
        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        context = self._context
        if context is None or (context.width, context.height) != (frame.width, frame.height):
            context = self._context = self._open(frame)
        frame.pict_type = (
            av.video.frame.PictureType.I if keyframe else av.video.frame.PictureType.NONE
        )
        packets: list[av.Packet[Any]] = list(context.encode(frame))
        for packet in packets:
            # Encoders keep the frame's clock in pts; the sender converts with time_base.
            packet.time_base = frame.time_base or VIDEO_TIME_BASE
        return packets

    def _take_keyframe_request(self) -> bool:
        now = time.monotonic()
        if self._keyframe_wanted and now - self._last_keyframe >= self.keyframe_min_interval:
            self._keyframe_wanted = False
            self._last_keyframe = now
            return True
        return False

    async def _packets(self, frame: object) -> list[av.Packet[Any]]:
        if not isinstance(frame, av.VideoFrame):
            raise TypeError("SharedEncoder needs a source of decoded video frames")
        keyframe = self._take_keyframe_request()
        loop = asyncio.get_running_loop()
        packets = await loop.run_in_executor(None, self._encode, frame, keyframe)
        self.frames_encoded += len(packets)
        self.keyframes_encoded += sum(packet.is_keyframe for packet in packets)
        return packets


class PacketSource(Protocol):
    """A shared encoder as its subscriber tracks see it."""

    def _unsubscribe(self, track: Any) -> None: ...


class PacketQueueTrack(MediaStreamTrack):
    """A subscriber of a shared encoder: `recv()` returns the packets `_offer` queued, or,
    while a pusher is attached, each packet goes straight to it.

    aiortc's sender only packetizes `av.Packet`s, so every subscriber costs a queue, not an
    encode. Subclasses decide what to queue and what to drop when the consumer lags.
    """

    def __init__(self, encoder: PacketSource) -> None:
        super().__init__()
        self._source = encoder
        self._queue: asyncio.Queue[av.Packet[Any] | None] = asyncio.Queue()
        self._pushers: list[PacketPusher] = []
        self.packets_dropped = 0

    @property
    def source(self) -> PacketSource:
        """The shared encoder this track subscribes to."""
        return self._source

    def push_to(self, pusher: PacketPusher) -> None:
        """From now on, packets go to `pusher`; what waits in the queue is stale by then (it
        was encoded before the connection was up) and is dropped."""
        self._pushers.append(pusher)
        while not self._queue.empty():
            if self._queue.get_nowait() is None:
                pusher.end()
                return
            self.packets_dropped += 1

    def stop_pushing(self, pusher: PacketPusher) -> None:
        if pusher in self._pushers:
            self._pushers.remove(pusher)

    @property
    def pushed(self) -> bool:
        return bool(self._pushers)

    def _offer(self, packet: av.Packet[Any] | None) -> None:
        self._deliver(packet)

    def _deliver(self, packet: av.Packet[Any] | None) -> None:
        """To the pushers if any (None ends them), else to the queue."""
        if not self._pushers:
            self._queue.put_nowait(packet)
            return
        for pusher in tuple(self._pushers):
            if packet is None:
                pusher.end()
            else:
                pusher.push(packet)

    async def recv(self) -> av.Packet[Any]:
        if self.readyState != "live":
            raise MediaStreamError
        packet = await self._queue.get()
        if packet is None:
            self.stop()
            raise MediaStreamError
        return packet

    def stop(self) -> None:
        was_live = self.readyState == "live"
        super().stop()
        if was_live:
            self._deliver(None)
            self._source._unsubscribe(self)


class FanoutTrack(PacketQueueTrack):
    """A video track whose `recv()` returns the shared encoder's `av.Packet[Any]`s."""

    kind = "video"

    def __init__(self, encoder: SharedEncoder) -> None:
        super().__init__(encoder)
        self._encoder = encoder
        self._started = False

    def push_to(self, pusher: PacketPusher) -> None:
        """As the base class; the pushed stream then starts at the next keyframe."""
        super().push_to(pusher)
        self._started = False
        self._encoder.request_keyframe()

    def bind_sender(self, sender: RTCRtpSender) -> None:
        """Forward the far end's keyframe requests (PLI/FIR) and bandwidth estimates (REMB)
        on `sender` to the shared encoder."""
        on_keyframe_request(sender, self._encoder.request_keyframe)
        on_remb(sender, lambda bitrate: self._encoder.take_estimate(self, bitrate))

    def _offer(self, packet: av.Packet[Any] | None) -> None:
        if packet is not None and not self._started:
            if not packet.is_keyframe:
                return
            self._started = True
        if packet is not None and not self.pushed and self._queue.qsize() >= SUBSCRIBER_QUEUE:
            # A consumer this far behind would only send stale video: drop what it has and
            # restart it at the next keyframe.
            self.packets_dropped += self._queue.qsize()
            while not self._queue.empty():
                self._queue.get_nowait()
            self._started = False
            self._encoder.request_keyframe()
            return
        self._deliver(packet)
