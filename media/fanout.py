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

Rates: a `SharedEncoder` encodes a ladder of rungs, each only while a subscriber needs it;
each subscriber takes the rung its own far end's REMB allows (see `SharedEncoder`), so one
slow link does not lower the others' bitrate, and all-clean subscribers cost one encoder.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import os
import time
from abc import ABC, abstractmethod
from collections import deque
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
    async def _fan_out(self, frame: object) -> None:
        """Encode one source frame and `_offer` its packets to the subscribers that take them
        (counted by the subclass)."""

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
                await self._fan_out(await self.source.recv())
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
"""The lowest rung of a shared encoder's ladder is at or above this (a picture still worth
decoding); an estimate below it gets the lowest rung."""
RUNG_RATIO = 2**-0.5
"""Each rung of a ladder encodes at this fraction of the one above (half-octave steps).

Simulcast's 1/2 steps would strand a stream on a lower rung: a receiver's AIMD estimator
(libwebrtc's, aiortc's) raises its REMB to at most 1.5x the rate it receives, so from a rung
at half the one above the estimate can never reach the upper rung again. At 1/sqrt(2) the
next rung up (1.41x) is within that reach, so a link that recovers climbs back."""
DOWN_MARGIN = 0.8
"""A stream leaves its rung when the estimate falls below this fraction of what the rung
sends. An AIMD estimator answers one overuse with 0.85x the throughput it measured, so a
link that carries the rung says at worst 0.85x; below 0.8x the link cannot carry it."""
UP_HOLD = 2.0
"""Seconds the estimate must stay at or above the next rung up before a stream climbs."""
RATE_WINDOW = 2.0
"""Seconds of a rung's packets its sending rate is measured over."""
MAX_RUNGS = 3
"""Rungs one shared encoder encodes at once, at most. Each rung is a whole encode of every
frame, on the one encoding thread: a crowd whose estimates scatter must not multiply its
encoders. They do scatter on a starved machine, where the receivers' delay-based estimators
read the CPU's scheduling delays as a congested link (48 standard crowd participants at load
5 opened 14-21 encoder contexts and sent fewer frames for more CPU). A stream whose rung is
not encoded when the others take all carries the nearest of theirs below its estimate, else
keeps its own (a switch encodes the old rung too until the new one's keyframe)."""
HEADROOM = 0.5
"""A rung is added only while encoding the rungs in use takes under this share of the time
between frames (wall time, averaged): the same starved machine makes every encode slower, and
more rungs would take the CPU the packets need (the starvation feeding itself). Without
headroom a stream takes a rung already encoded below its estimate, as at `MAX_RUNGS`."""


class _Rung:
    """One encoding of a ladder: its bitrate, its PyAV context (opened on its first frame),
    and the rate it really sends (an encoder undershoots its target on simple pictures)."""

    def __init__(self, bitrate: int) -> None:
        self.bitrate = bitrate
        self.context: VideoCodecContext | None = None
        self.keyframe_wanted = True
        self.last_keyframe = -float("inf")
        self._sent: deque[tuple[float, int]] = deque()

    def count(self, packets: list[av.Packet[Any]]) -> None:
        now = time.monotonic()
        self._sent.append((now, sum(packet.size for packet in packets)))
        while now - self._sent[0][0] > RATE_WINDOW:
            self._sent.popleft()

    def sending(self) -> int:
        """Bits per second sent over the window; the target while under a second is known."""
        if len(self._sent) < 2 or self._sent[-1][0] - self._sent[0][0] < 1.0:
            return self.bitrate
        seconds = self._sent[-1][0] - self._sent[0][0]
        return int(sum(size for _, size in list(self._sent)[1:]) * 8 / seconds)


class SharedEncoder(FanoutEncoder["FanoutTrack"]):
    """Encodes `source` once per rung of a bitrate ladder for all its subscribers.

    The encode loop starts with the first subscriber and stops when the last one stops (or on
    `close()`); `encoder_constructions` counts PyAV encoder contexts created (one per rung
    opened, size change), so tests can check that N subscribers cost one encoder.

    Bandwidth, per subscriber: each subscriber's sender passes on the REMB its far end sends
    (`bind_sender`), and the subscriber takes the highest rung the estimate carries. Rung k encodes
    at `max_bitrate` * `RUNG_RATIO`**k (the top rung is the profile's bitrate), down to
    `MIN_SHARED_BITRATE`. A rung is encoded only while some subscriber is on it or switching
    to it, so unconstrained subscribers cost one encoder as before, and one constrained one
    adds one more, while nobody else's rate changes. Rungs are compared with what they really
    send (an encoder undershoots on simple pictures, and a receiver's estimate follows what it
    receives). Hysteresis: a subscriber goes down when its estimate falls below `DOWN_MARGIN`
    of what its rung sends, to the highest rung at or below the estimate; it goes up one rung
    once the estimate stayed at what the upper rung would send for `UP_HOLD` seconds. A switch
    waits for a keyframe of the target rung (asked for at once, as for a late subscriber), so
    the far end's picture never breaks.
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
        self.max_bitrate = bitrate
        self.keyframe_min_interval = keyframe_min_interval
        self.ladder = ladder(bitrate)
        self._rungs: dict[int, _Rung] = {}
        self.encoder_constructions = 0
        self.frames_encoded = 0
        self.keyframes_encoded = 0
        self.encode_share = 0.0
        """Average share of the time between frames spent encoding them (wall time)."""
        self._last_frame_at: float | None = None

    @property
    def rungs(self) -> dict[int, int]:
        """The rungs being encoded: index (0 is the top) to bitrate."""
        return {index: rung.bitrate for index, rung in sorted(self._rungs.items())}

    def _new_track(self) -> FanoutTrack:
        track = FanoutTrack(self)
        self.request_keyframe(track.rung)  # the new track starts at the next keyframe
        return track

    def _rung(self, index: int) -> _Rung:
        rung = self._rungs.get(index)
        if rung is None:
            rung = self._rungs[index] = _Rung(self.ladder[index])
        return rung

    def request_keyframe(self, rung: int | None = None) -> None:
        """Ask that the next frame of `rung` (of every rung if None) be a keyframe (coalesced
        per rung, see the module docstring)."""
        for index in self._rungs.keys() if rung is None else (rung,):
            self._rung(index).keyframe_wanted = True

    def take_estimate(self, track: FanoutTrack, bitrate: int) -> None:
        """A subscriber's receiver estimated `bitrate` (REMB): move that subscriber alone to
        the rung the estimate allows (with the hysteresis of the class docstring)."""
        now = time.monotonic()
        current = track.rung if track.target is None else track.target
        sending = min(self._rung(current).sending(), self.ladder[current])
        if bitrate < DOWN_MARGIN * sending:
            track.up_since = None
            if current + 1 < len(self.ladder):
                track.switch_to(
                    self._encodable(track, max(current + 1, rung_for(self.ladder, bitrate)))
                )
            return
        # The next rung up would send about 1/RUNG_RATIO more, or less when the encoder
        # already undershoots (simple pictures); its target caps that.
        if current == 0 or bitrate < min(self.ladder[current - 1], sending / RUNG_RATIO):
            track.up_since = None
            return
        if track.up_since is None:
            track.up_since = now
        if now - track.up_since >= UP_HOLD:
            track.up_since = None
            track.switch_to(self._encodable(track, current - 1))  # one rung at a time

    def _encodable(self, track: FanoutTrack, wanted: int) -> int:
        """The rung `track` may switch to: `wanted`, unless that adds a rung beyond
        `MAX_RUNGS` or without `HEADROOM`; then the nearest of the others' below `wanted`, else
        its own."""
        others = [other for other in self._subscribers if other is not track]
        used = {other.rung for other in others}
        used |= {other.target for other in others if other.target is not None}
        own = track.rung if track.target is None else track.target
        # A stream alone on its rung frees it by leaving: no more encodes than before.
        room = own not in used or self.encode_share < HEADROOM
        if wanted in used or (len(used) < MAX_RUNGS and room):
            return wanted
        return min((index for index in used if index > wanted), default=own)

    def _open(self, frame: av.VideoFrame, bitrate: int) -> VideoCodecContext:
        context = av.Codec(CODECS[self.codec], "w").create("video")
        context.width = frame.width
        context.height = frame.height
        context.pix_fmt = "yuv420p"
        context.bit_rate = bitrate
        context.time_base = fractions.Fraction(1, 90_000)
        # Same thread count as aiortc's own VP8 encoder, so a comparison is like for like.
        context.thread_count = number_of_threads(frame.width * frame.height, os.cpu_count() or 1)
        if self.codec == "VP8":
            context.gop_size = 3000
            context.qmin = 2
            context.qmax = 56
            rate = str(bitrate)
            context.options = {**VP8_OPTIONS, "bufsize": rate, "minrate": rate, "maxrate": rate}
        else:
            context.framerate = fractions.Fraction(30, 1)
            context.options = H264_OPTIONS
            context.profile = "Baseline"
        self.encoder_constructions += 1
        return context

    def _encode(
        self, frame: av.VideoFrame, rungs: list[tuple[_Rung, bool]]
    ) -> list[list[av.Packet[Any]]]:
        """`frame` encoded at each rung (keyframe or not): one list of packets per rung."""
        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        encoded = []
        for rung, keyframe in rungs:
            context = rung.context
            if context is None or (context.width, context.height) != (frame.width, frame.height):
                context = rung.context = self._open(frame, rung.bitrate)
            frame.pict_type = (
                av.video.frame.PictureType.I if keyframe else av.video.frame.PictureType.NONE
            )
            packets: list[av.Packet[Any]] = list(context.encode(frame))
            for packet in packets:
                # Encoders keep the frame's clock in pts; the sender converts with time_base.
                packet.time_base = frame.time_base or VIDEO_TIME_BASE
            encoded.append(packets)
        return encoded

    def _note_busy(self, started: float, ended: float) -> None:
        if self._last_frame_at is not None and started > self._last_frame_at:
            share = min(2.0, (ended - started) / (started - self._last_frame_at))
            self.encode_share += 0.2 * (share - self.encode_share)
        self._last_frame_at = started

    def _take_keyframe_request(self, rung: _Rung) -> bool:
        now = time.monotonic()
        if rung.keyframe_wanted and now - rung.last_keyframe >= self.keyframe_min_interval:
            rung.keyframe_wanted = False
            rung.last_keyframe = now
            return True
        return False

    async def _fan_out(self, frame: object) -> None:
        if not isinstance(frame, av.VideoFrame):
            raise TypeError("SharedEncoder needs a source of decoded video frames")
        tracks = list(self._subscribers)
        used = {track.rung for track in tracks} | {
            track.target for track in tracks if track.target is not None
        }
        for index in set(self._rungs) - used:
            del self._rungs[index]  # no subscriber left on it: its encoder goes
        order = sorted(used)
        rungs = [self._rung(index) for index in order]
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        encoded = await loop.run_in_executor(
            None, self._encode, frame, [(rung, self._take_keyframe_request(rung)) for rung in rungs]
        )
        self._note_busy(started, time.monotonic())
        by_rung = dict(zip(order, encoded, strict=True))
        for rung, packets in zip(rungs, encoded, strict=True):
            rung.count(packets)
            self.frames_encoded += len(packets)
            self.keyframes_encoded += sum(packet.is_keyframe for packet in packets)
        for track in tracks:
            if track.target is not None:
                target = by_rung.get(track.target, [])
                if any(packet.is_keyframe for packet in target):
                    track.rung, track.target = track.target, None
            for packet in by_rung.get(track.rung, []):
                track._offer(packet)


def ladder(top: int) -> list[int]:
    """The bitrates of a ladder whose top rung is `top`, down to `MIN_SHARED_BITRATE` (a top
    below that floor is a ladder of one rung)."""
    rungs = [top]
    while int(top * RUNG_RATIO ** len(rungs)) >= MIN_SHARED_BITRATE:
        rungs.append(int(top * RUNG_RATIO ** len(rungs)))
    return rungs


def rung_for(rungs: list[int], bitrate: int) -> int:
    """The index of the highest rung at or below `bitrate` (the lowest rung if none is)."""
    return next((index for index, rate in enumerate(rungs) if rate <= bitrate), len(rungs) - 1)


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
    """A video track whose `recv()` returns the shared encoder's `av.Packet[Any]`s, those of
    the rung its own receiver's estimate allows (`rung`; `target` while a switch waits for
    the target rung's keyframe)."""

    kind = "video"

    def __init__(self, encoder: SharedEncoder) -> None:
        super().__init__(encoder)
        self._encoder = encoder
        self._started = False
        self.rung = 0
        self.target: int | None = None
        self.up_since: float | None = None
        self.switches = 0

    @property
    def bitrate(self) -> int:
        """The bitrate of the rung this track carries."""
        return self._encoder.ladder[self.rung]

    def switch_to(self, rung: int) -> None:
        """Carry `rung` from its next keyframe on (asked for now); the current rung until then."""
        self.target = None if rung == self.rung else rung
        if self.target is not None:
            self.switches += 1
            self._encoder.request_keyframe(rung)

    def request_keyframe(self) -> None:
        """A keyframe of the rung this track carries (and of the one it switches to)."""
        self._encoder.request_keyframe(self.rung)
        if self.target is not None:
            self._encoder.request_keyframe(self.target)

    def push_to(self, pusher: PacketPusher) -> None:
        """As the base class; the pushed stream then starts at the next keyframe."""
        super().push_to(pusher)
        self._started = False
        self.request_keyframe()

    def bind_sender(self, sender: RTCRtpSender) -> None:
        """Forward the far end's keyframe requests (PLI/FIR) and bandwidth estimates (REMB)
        on `sender` to the shared encoder."""
        on_keyframe_request(sender, self.request_keyframe)
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
            self.request_keyframe()
            return
        self._deliver(packet)
