"""Sinks that count, sample and hand media to callbacks.

`FrameCounter` is the light receiver's sink: fed straight from RTP
(`media.rtp_seams.count_frames_from_rtp`, no track at all), or on a track whose receiver skips
decoding (`media.passthrough.skip_decoding`), where it sees `av.Packet`s at the cost of a
decoder-thread and queue hop; either way it counts frames, keyframes and bytes.
`KeyframeDecoder` is sampled decoding for such a track: it decodes keyframes only (they decode
on their own), optionally asking the sender for one every `interval` seconds. `FrameCallback`
passes every Nth decoded frame of a normally decoding track; `PcmCallback` passes 16 kHz mono
PCM for transcribing bots.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from aiortc import RTCRtpReceiver

from media.analysis import FrameTimeline
from media.clock import ArrivalClock
from media.passthrough import keyframe_codec, request_keyframe
from media.reader import Item, Sink

VideoCallback = Callable[[av.VideoFrame, float], Awaitable[None] | None]
DECODERS = {"VP8": "libvpx", "H264": "h264"}
PcmHandler = Callable[[npt.NDArray[np.int16], float], Awaitable[None] | None]


async def _call(callback: Callable[..., Any], *args: Any) -> None:
    result = callback(*args)
    if inspect.isawaitable(result):
        await result


class FrameCounter(Sink):
    """Frames, keyframes and encoded bytes, plus the arrival timeline (fps, freezes, TTFF)."""

    def __init__(self, started_at: float | None = None) -> None:
        self.timeline = FrameTimeline(started_at)
        self.frames = 0
        self.keyframes = 0
        self.bytes = 0
        self.decoded = 0

    async def consume(self, item: Item, received_at: float) -> None:
        if isinstance(item, av.Packet):
            self.count(received_at, item.size, bool(item.is_keyframe))
        else:
            self.decoded += 1
            self.count(received_at, 0, bool(getattr(item, "key_frame", False)))

    def count(self, received_at: float, size: int, keyframe: bool) -> None:
        """One frame; what `media.rtp_seams.count_frames_from_rtp` calls, with no track."""
        self.frames += 1
        self.timeline.add(received_at)
        self.bytes += size
        self.keyframes += keyframe


class FrameCallback(Sink):
    """Calls `callback(frame, received_at)` with every `every`-th decoded video frame.

    The receiver still decodes every frame (an inter frame needs its predecessors); sampling
    saves what the callback does with the pixels, which is usually the larger cost in Python.
    """

    def __init__(self, callback: VideoCallback, every: int = 1) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.callback = callback
        self.every = every
        self.seen = 0
        self.delivered = 0

    async def consume(self, item: Item, received_at: float) -> None:
        if not isinstance(item, av.VideoFrame):
            return
        self.seen += 1
        if (self.seen - 1) % self.every == 0:
            self.delivered += 1
            await _call(self.callback, item, received_at)


class KeyframeDecoder(Sink):
    """Sampled decoding on a track that is not decoded: decodes keyframes only.

    The codec is recognised from each keyframe (VP8 or H264) unless `codec` pins it; other
    packets (audio, inter frames) are not decoded.

    With `receiver` and `interval`, sends a PLI whenever no keyframe came for `interval`
    seconds, which turns "keyframes" into "one picture every `interval` seconds" at the cost
    of the sender's keyframe bits.
    """

    def __init__(
        self,
        callback: VideoCallback,
        codec: str | None = None,
        receiver: RTCRtpReceiver | None = None,
        interval: float | None = None,
    ) -> None:
        if codec not in (None, *DECODERS):
            raise ValueError(f"codec must be one of {sorted(DECODERS)} or None, got {codec!r}")
        self.callback = callback
        self.codec = codec
        self.receiver = receiver
        self.interval = interval
        self.decoded = 0
        self._last_keyframe_at = time.time()
        self._last_request_at = 0.0

    @staticmethod
    def _decode(packet: av.Packet[Any], codec: str) -> list[av.VideoFrame]:
        # A fresh context per keyframe: it must not depend on anything it has not seen.
        context = av.Codec(DECODERS[codec], "r").create("video")
        frames: list[av.VideoFrame] = list(context.decode(packet))
        frames.extend(context.decode(None))
        return frames

    async def consume(self, item: Item, received_at: float) -> None:
        if not isinstance(item, av.Packet):
            return
        codec = keyframe_codec(bytes(item)) if item.is_keyframe else None
        if codec is not None and self.codec in (None, codec):
            self._last_keyframe_at = received_at
            loop = asyncio.get_running_loop()
            frames = await loop.run_in_executor(None, self._decode, item, codec)
            for frame in frames:
                self.decoded += 1
                await _call(self.callback, frame, received_at)
        elif (
            self.receiver is not None
            and self.interval is not None
            and received_at - self._last_keyframe_at >= self.interval
            and received_at - self._last_request_at >= self.interval / 2
        ):
            self._last_request_at = received_at
            await request_keyframe(self.receiver)


RTP_WRAP = 1 << 32


class PcmCallback(Sink):
    """Calls `callback(pcm, received_at)` with s16 mono PCM at `sample_rate` (16 kHz default).

    The resampler keeps state across frames, so the output is one continuous signal. With
    `media_clock`, the signal follows the sender's RTP timestamps: a gap (packets lost, or
    dropped by a jitter buffer that overflowed while the loop was busy) is filled with
    silence, and `received_at` is the arrival time `ArrivalClock` derives from the timestamp,
    so times read off the PCM (a voice detector's) are the sender's pace, not the reader's.
    """

    def __init__(
        self, callback: PcmHandler, sample_rate: int = 16_000, *, media_clock: bool = False
    ) -> None:
        self.callback = callback
        self.sample_rate = sample_rate
        self.samples = 0
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
        self._clock = ArrivalClock() if media_clock else None
        self._first_pts: int | None = None
        self._last_raw = 0
        self._position = 0
        self._next_pts = 0
        """Where (input samples since the first frame) the next frame should start."""

    def _media_position(self, item: av.AudioFrame) -> int | None:
        """The frame's start in input samples since the first frame, RTP wrap-around undone."""
        if item.pts is None:
            return None
        raw = int(item.pts)
        if self._first_pts is None:
            self._first_pts = self._last_raw = raw
            self._position = 0
            return 0
        step = (raw - self._last_raw) % RTP_WRAP
        if step >= RTP_WRAP // 2:
            step -= RTP_WRAP  # an older frame than the last
        self._last_raw = raw
        self._position += step
        return self._position

    async def consume(self, item: Item, received_at: float) -> None:
        if not isinstance(item, av.AudioFrame):
            return
        if self._clock is not None:
            position = self._media_position(item)
            if position is not None:
                rate = item.sample_rate
                gap = position - self._next_pts
                if gap >= item.samples // 2 and self._next_pts:  # media missing: silence
                    silence = np.zeros(round(gap * self.sample_rate / rate), dtype=np.int16)
                    at = self._clock.stamp(position / rate, received_at)
                    self.samples += silence.size
                    await _call(self.callback, silence, at)
                self._next_pts = max(self._next_pts, position + item.samples)
                received_at = self._clock.stamp(self._next_pts / rate, received_at)
        for out in self._resampler.resample(item):
            pcm = np.ascontiguousarray(out.to_ndarray().reshape(-1), dtype=np.int16)
            self.samples += pcm.size
            await _call(self.callback, pcm, received_at)
