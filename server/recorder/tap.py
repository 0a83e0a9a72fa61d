"""A recorder's tap on one track of the router: the packets the router already receives,
reassembled into frames and handed to a `TrackWriter`, never decoded.

It is a `server.media.ingress.Downstream` like a viewer's sender, so the ingress gives it what
a viewer gets: NACK-repaired packets (retransmissions unwrapped), a keyframe request (PLI)
while it waits for one, and a restart when the publisher's SSRC changes. Frames are completed
from sequence numbers and markers by `media.rtp_seams.FrameAssembler` (the light receiver's),
which keeps the payloads: per packet that is a dict entry, per frame a join of the payloads
past their descriptors. A frame lost for good makes the tap wait for the next keyframe, so no
frame that cannot decode reaches the file. The file writing happens in batches off the event
loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from media.rtp_seams import FrameAssembler, Part, vp8_descriptor_size
from server.recorder.writer import Frame, TrackWriter

MAX_PENDING_FRAMES = 64
"""Arrival times kept for frames not yet complete (the assembler may skip some)."""
_H264_IDR = 5
_H264_SPS = 7
_H264_STAP_A = 24
_H264_FU_A = 28


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


def _vp8(payloads: list[bytes]) -> bytes:
    return b"".join([p[vp8_descriptor_size(p) :] for p in payloads])


_START = b"\x00\x00\x00\x01"


def _h264(payloads: list[bytes]) -> bytes:
    """Annex-B from RFC 6184 payloads, as aiortc's `h264_depayload` makes it, without its
    descriptor object per packet."""
    out: list[bytes] = []
    for payload in payloads:
        if len(payload) < 2:
            raise ValueError("H264 NAL unit is too short")
        nal_type = payload[0] & 0x1F
        if nal_type < 24:
            if not nal_type:
                raise ValueError("H264 NAL unit type 0 is not supported")
            out += (_START, payload)
        elif nal_type == _H264_FU_A:
            if payload[1] & 0x80:  # the first fragment carries the NAL unit's header
                out += (_START, bytes([payload[0] & 0xE0 | payload[1] & 0x1F]))
            out.append(payload[2:])
        elif nal_type == _H264_STAP_A:
            pos = 1
            while pos < len(payload):
                size = int.from_bytes(payload[pos : pos + 2], "big")
                pos += 2
                if pos + size > len(payload):
                    raise ValueError("STAP-A data is truncated")
                out += (_START, payload[pos : pos + size])
                pos += size
        else:
            raise ValueError(f"H264 NAL unit type {nal_type} is not supported")
    return b"".join(out)


def _as_is(payloads: list[bytes]) -> bytes:
    return b"".join(payloads)


def depayloader(codec_name: str) -> Callable[[list[bytes]], bytes]:
    """The frame's data from its packets' payloads: VP8 without its payload descriptors,
    H264 as Annex-B, anything else (Opus) as it is. Raises ValueError or IndexError on a
    malformed payload."""
    return {"VP8": _vp8, "H264": _h264}.get(codec_name.upper(), _as_is)


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
        self.frames_dropped = 0
        """Frames not written: lost or waiting for a keyframe."""
        self._video = kind == "video"
        self._depayload = depayloader(codec.name)
        self._clock_ms = codec.clockRate / 1000
        self._frames = FrameAssembler(
            kind, self._frame, on_skip=self._lost, audio_in_order=True, start_at_keyframe=True
        )
        self._waiting = self._video
        self._ssrc: int | None = None
        self._origin: float | None = None  # time.time() of pts 0
        self._last_pts = 0
        self._arrivals: dict[int, float] = {}  # RTP timestamp -> its first packet's arrival
        self._offset_ms = 0  # pts of the current source's first frame
        self._base_ts: int | None = None  # RTP timestamp of the current source's first frame
        self._extended = 0  # RTP ticks since _base_ts, unwrapped
        self._last_ts = 0

    @property
    def started(self) -> datetime | None:
        """The wall time of pts 0."""
        return None if self._origin is None else datetime.fromtimestamp(self._origin, UTC)

    @property
    def stopped(self) -> datetime | None:
        """The wall time of the last frame written."""
        if self._origin is None:
            return None
        return datetime.fromtimestamp(self._origin + self._last_pts / 1000, UTC)

    # --- Downstream ---------------------------------------------------------------------------

    @property
    def waiting_for_keyframe(self) -> bool:
        return self._waiting

    async def forward(self, packet: RtpPacket, source_seq: int, keyframe_start: bool) -> None:
        # The packet is shared with the viewers and the history: its payload (immutable) is
        # kept until its frame is complete, the packet itself is never changed.
        if packet.ssrc != self._ssrc:
            # A publisher that reconnects comes through a new ingress, which knows no SSRC
            # before and restarts nobody: the tap notices by itself.
            if self._ssrc is not None:
                self.restart()
            self._ssrc = packet.ssrc
        timestamp = packet.timestamp
        if timestamp not in self._arrivals:
            now = time.time()
            if self.first_packet is None:
                self.first_packet = datetime.fromtimestamp(now, UTC)
            if len(self._arrivals) >= MAX_PENDING_FRAMES:  # frames the assembler skipped
                del self._arrivals[next(iter(self._arrivals))]
            self._arrivals[timestamp] = now
        self._frames.add(packet, keyframe_start)

    def restart(self) -> None:
        """A new SSRC: new sequence numbers and RTP clock; the timeline stays continuous."""
        self._frames.restart()
        self._waiting = self._video
        self._arrivals.clear()
        if self._base_ts is not None and self._origin is not None:
            self._offset_ms = int((time.time() - self._origin) * 1000)
            self._base_ts = None

    # --- frames -------------------------------------------------------------------------------

    def _lost(self) -> None:
        """A frame will never complete: what follows needs a keyframe to decode."""
        self.frames_dropped += 1
        self._waiting = self._video

    def _frame(self, parts: list[Part]) -> None:
        try:
            data = self._depayload([part.payload for part in parts])
        except (ValueError, IndexError):  # a malformed packet: the frame cannot be written
            self._lost()
            return
        if not data:
            return
        timestamp = parts[0].timestamp
        keyframe = frame_is_keyframe(self.codec.name, data)
        if self._waiting:
            # A keyframe whose first packet starts it (the first frame of a source may lack
            # its beginning), as the router resumes a viewer.
            if not (keyframe and parts[0].keyframe_start):
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
        self._last_pts = pts
        self.writer.add(Frame(data, pts, keyframe))
