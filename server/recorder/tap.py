"""A recorder's tap on one track of the router: the packets the router already receives,
reassembled into frames and handed to a `TrackWriter`, never decoded.

It is a `server.media.ingress.Downstream` like a viewer's sender, so the ingress gives it what
a viewer gets: NACK-repaired packets (retransmissions unwrapped), a keyframe request (PLI)
while it waits for one, and a restart when the publisher's SSRC changes. The work per packet
is a copy, a depayload and aiortc's jitter buffer; the file writing happens in batches off the
event loop.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from aiortc.codecs import depayload
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from agent.webrtc.seams.receiver import depayloaded
from server.recorder.writer import Frame, TrackWriter

MAX_PENDING_FRAMES = 64
"""Arrival times kept for frames not yet complete (the jitter buffer may drop some)."""
_H264_IDR = 5
_H264_SPS = 7


def frame_is_keyframe(codec_name: str, data: bytes) -> bool:
    """Whether a depayloaded frame decodes on its own (VP8 frame tag, H264 IDR or SPS)."""
    if not data:
        return False
    name = codec_name.upper()
    if name == "VP8":
        return not data[0] & 0x01
    if name == "H264":
        return any(nal in (_H264_IDR, _H264_SPS) for nal in _h264_nal_types(data))
    return True


def _h264_nal_types(annex_b: bytes) -> list[int]:
    types = []
    start = annex_b.find(b"\x00\x00\x01")
    while start != -1 and start + 3 < len(annex_b):
        types.append(annex_b[start + 3] & 0x1F)
        start = annex_b.find(b"\x00\x00\x01", start + 3)
    return types


class RecordingTap:
    """Frames of one published track, timed on the wall clock, into one `TrackWriter`."""

    remote_estimate: int | None = None
    """The recorder takes what comes: it limits no publisher's bitrate (no REMB)."""

    def __init__(self, kind: str, codec: RTCRtpCodecParameters, writer: TrackWriter) -> None:
        self.kind = kind
        self.codec = codec
        self.writer = writer
        self.first_packet: datetime | None = None
        """When the stream's first packet reached the tap: its media was on air."""
        self.started: datetime | None = None
        self.stopped: datetime | None = None
        self.frames_dropped = 0
        self._video = kind == "video"
        self._clock_ms = codec.clockRate / 1000
        self._buffer = self._new_buffer()
        self._waiting = self._video
        self._origin: float | None = None  # time.time() of pts 0
        self._arrivals: dict[int, float] = {}  # RTP timestamp -> its first packet's arrival
        self._offset_ms = 0  # pts of the current source's first frame
        self._base_ts: int | None = None  # RTP timestamp of the current source's first frame
        self._extended = 0  # RTP ticks since _base_ts, unwrapped
        self._last_ts = 0

    def _new_buffer(self) -> JitterBuffer:
        # As aiortc's own receiver sizes them: video holds frames of many packets.
        if self._video:
            return JitterBuffer(capacity=512, is_video=True)
        return JitterBuffer(capacity=16)

    # --- Downstream ---------------------------------------------------------------------------

    @property
    def waiting_for_keyframe(self) -> bool:
        return self._waiting

    async def forward(self, packet: RtpPacket, source_seq: int, keyframe_start: bool) -> None:
        now = time.time()
        if self.first_packet is None:
            self.first_packet = datetime.fromtimestamp(now, UTC)
        if packet.timestamp not in self._arrivals:
            if len(self._arrivals) >= MAX_PENDING_FRAMES:  # frames the buffer gave up on
                del self._arrivals[next(iter(self._arrivals))]
            self._arrivals[packet.timestamp] = now
        # The packet is shared with the viewers and the history: keep a copy, never mutate it.
        copy = RtpPacket(
            payload_type=packet.payload_type,
            marker=packet.marker,
            sequence_number=packet.sequence_number,
            timestamp=packet.timestamp,
            ssrc=packet.ssrc,
            payload=packet.payload,
        )
        try:
            depayloaded(copy, depayload(self.codec, packet.payload))
        except ValueError:
            depayloaded(copy, b"")
        lost, frame = self._buffer.add(copy)
        if lost:
            self._waiting = self._video  # what follows needs a keyframe to decode
        if frame is not None:
            self._frame(frame.data, frame.timestamp)

    def restart(self) -> None:
        """A new SSRC: new sequence numbers and RTP clock; the timeline stays continuous."""
        self._buffer = self._new_buffer()
        self._waiting = self._video
        self._arrivals.clear()
        if self._base_ts is not None and self._origin is not None:
            self._offset_ms = int((time.time() - self._origin) * 1000)
            self._base_ts = None

    # --- frames -------------------------------------------------------------------------------

    def _frame(self, data: bytes, timestamp: int) -> None:
        if not data:
            return
        keyframe = frame_is_keyframe(self.codec.name, data)
        if self._waiting:
            if not keyframe:
                self.frames_dropped += 1
                return
            self._waiting = False
        arrived = self._arrivals.pop(timestamp, None) or time.time()
        if self._base_ts is None:
            self._base_ts = self._last_ts = timestamp
            self._extended = 0
        else:
            delta = (timestamp - self._last_ts) & 0xFFFFFFFF
            if delta >= 0x80000000:
                delta -= 0x100000000
            self._extended += delta
            self._last_ts = timestamp
        pts = self._offset_ms + int(self._extended / self._clock_ms)
        # pts 0 is placed by the least delayed frame so far: its first packet's arrival minus
        # its pts (a late first keyframe, on a busy machine, would shift the whole track).
        origin = arrived - pts / 1000
        if self._origin is None or origin < self._origin:
            self._origin = origin
            self.started = datetime.fromtimestamp(origin, UTC)
        self.stopped = datetime.fromtimestamp(self._origin + pts / 1000, UTC)
        self.writer.add(Frame(data, pts, keyframe))
