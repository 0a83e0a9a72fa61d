"""Reading media straight from RTP, for the router and the agent's light receiver alike.

Where a decodable picture starts (`starts_keyframe`) is read from an RTP payload without
depacketizing the frame: the router holds a new viewer until then, and the light receiver
counts keyframes with it.

The light receiver (`count_frames_from_rtp`) needs frames, keyframes and bytes, not pictures.
aiortc's `RTCRtpReceiver` depayloads every packet into a jitter buffer, hands each reassembled
frame to a decoder thread, and gets it back through a queue and the remote track: about a
tenth of a light participant's CPU, for frames nobody looks at. Here the receiver's packets are
taken over (`agent.webrtc.seams.receiver.take_over_packets`, which keeps statistics, RTX and
NACKs) and frames are completed from sequence numbers and marker bits (`FrameAssembler`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

from aiortc import RTCRtpReceiver
from aiortc.rtp import RtpPacket

from agent.webrtc.seams.receiver import kind, take_over_packets

__all__ = [
    "FrameAssembler",
    "FrameHandler",
    "Part",
    "count_frames_from_rtp",
    "frame_counter",
    "starts_keyframe",
    "vp8_descriptor_size",
]

_H264_IDR = 5
_H264_SPS = 7
_H264_STAP_A = 24
_H264_FU_A = 28

FrameHandler = Callable[[float, int, bool], None]
"""`on_frame(received_at, size, keyframe)`: one complete frame; `received_at` is wall-clock
time (`time.time()`, the clock the timecode uses), `size` the payload bytes of its packets."""

MAX_WAITING_FRAMES = 30
"""Frames that may wait behind a missing packet (about a second of video) before that
packet counts as lost for good and the frame it belonged to is skipped; NACK repair
normally arrives within a round trip."""
MAX_MISORDER = 100
"""A packet this far behind the last frame is not late: its sender restarted its numbering
(aiortc's jitter buffer draws the line at the same distance)."""
MAX_DROPOUT = 3000
"""A packet this far ahead of the last frame is not after a gap: the numbering started over
(RFC 3550 A.1 draws the lines at 100 behind and 3000 ahead)."""


def starts_keyframe(codec_name: str, payload: bytes) -> bool:
    """True if this packet carries the first bytes of a keyframe.

    For a codec we cannot read every packet counts as a start, so nothing is ever held back.
    """
    try:
        if codec_name == "VP8":
            return _vp8_starts_keyframe(payload)
        if codec_name == "H264":
            return _h264_starts_keyframe(payload)
    except IndexError:
        return False
    return True


def _vp8_starts_keyframe(payload: bytes) -> bool:
    # RFC 7741 4.2: the payload descriptor, then the VP8 frame tag; its bit 0 is 0 on keyframes.
    first = payload[0]
    if not first & 0x10 or first & 0x07:  # not the start of partition 0
        return False
    return not payload[vp8_descriptor_size(payload)] & 0x01


def vp8_descriptor_size(payload: bytes) -> int:
    """Bytes of the VP8 payload descriptor (RFC 7741 4.2) before the VP8 data; IndexError
    when the payload is too short to hold it."""
    first = payload[0]
    pos = 1
    if first & 0x80:  # X: extension octet follows
        ext = payload[1]
        pos = 2
        if ext & 0x80:  # I: picture id, 7 or 15 bits
            pos += 2 if payload[pos] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            pos += 1
        if ext & 0x30:  # T or K: TID/KEYIDX octet
            pos += 1
    if pos > len(payload):
        raise IndexError("VP8 payload descriptor is truncated")
    return pos


def _h264_starts_keyframe(payload: bytes) -> bool:
    # RFC 6184: a single NAL unit, an aggregate (STAP-A) or the first fragment (FU-A).
    nal_type = payload[0] & 0x1F
    if nal_type in (_H264_IDR, _H264_SPS):
        return True
    if nal_type == _H264_STAP_A:
        pos = 1
        while pos + 2 < len(payload):
            size = int.from_bytes(payload[pos : pos + 2], "big")
            if payload[pos + 2] & 0x1F in (_H264_IDR, _H264_SPS):
                return True
            pos += 2 + size
        return False
    if nal_type == _H264_FU_A:
        return bool(payload[1] & 0x80) and payload[1] & 0x1F in (_H264_IDR, _H264_SPS)
    return False


class Part(NamedTuple):
    """One packet of a frame being assembled: what a frame's consumer needs of it."""

    timestamp: int
    payload: bytes
    keyframe_start: bool
    """`starts_keyframe` of this packet, as its receiver computed it."""


class FrameAssembler:
    """Complete frames of one media SSRC from its packets, payloads carried, never copied.

    Video: a frame is the packets after the previous frame's marker up to its own marker
    (RFC 3550: the marker ends a video frame), complete once every sequence number in
    between has arrived, in any order, retransmissions included (duplicates count once).
    Frames are reported in sequence order: one that lacks a packet holds the later ones back
    until `MAX_WAITING_FRAMES` are waiting, then it is skipped (`on_skip`) and they go on.
    Audio: every packet is a frame (one Opus frame per packet), reported as it arrives, or,
    with ``audio_in_order``, held in sequence order like video frames (a recorder writes a
    reordered packet in its place instead of dropping it).

    The first video frame of a source is whatever ends at the first marker, made of the
    packets with its timestamp that are there; with ``start_at_keyframe`` it is the first
    keyframe whose packets are all there from its keyframe start (a recorder's first frame
    must decode: packets reordered at the start, or a start missed, cannot cut it short).

    ``on_frame(packets)`` gets the frame's packets in order as `Part`s. A packet further
    behind the last reported frame than `MAX_MISORDER`, or further ahead than `MAX_DROPOUT`,
    means the sender's numbering started over: the assembler restarts on it (the frames lost
    in between are one skip).
    """

    def __init__(
        self,
        kind: str,
        on_frame: Callable[[list[Part]], None],
        *,
        on_skip: Callable[[], None] | None = None,
        audio_in_order: bool = False,
        start_at_keyframe: bool = False,
    ) -> None:
        self.kind = kind
        self.on_frame = on_frame
        self.on_skip = on_skip
        self.frames_skipped = 0
        """Frames given up on: a packet of theirs never arrived."""
        self._each_packet = kind != "video"  # every packet ends a frame
        self._at_once = self._each_packet and not audio_in_order
        self._start_at_keyframe = start_at_keyframe and not self._each_packet
        self._end: int | None = None  # sequence number of the last frame's marker
        self._pending: dict[int, Part] = {}
        self._markers: list[int] = []  # markers waiting, in arrival order

    def restart(self) -> None:
        """A new SSRC: its sequence numbers start over."""
        self._end = None
        self._pending.clear()
        self._markers.clear()

    def add(self, packet: RtpPacket, keyframe_start: bool) -> None:
        seq = packet.sequence_number
        end = self._end
        if end is not None and not 0 < (seq - end) & 0xFFFF < MAX_DROPOUT:
            if (end - seq) & 0xFFFF < MAX_MISORDER:
                return  # a frame already reported (a late retransmission, a duplicate)
            self.restart()  # far behind or far ahead: the sender numbers anew
            self._skip()
            end = None
        part = Part(packet.timestamp, packet.payload, keyframe_start)
        if self._at_once or (
            self._each_packet
            and end is not None
            and seq == (end + 1) & 0xFFFF
            and not self._markers
        ):  # a frame of its own, in order: nothing to wait for
            self._end = seq
            self.on_frame([part])
            return
        if seq in self._pending:
            return
        self._pending[seq] = part
        if packet.marker or self._each_packet:
            self._markers.append(seq)
        if self._markers:
            self._complete()

    def _complete(self) -> None:
        if self._end is None and self._start_at_keyframe and not self._first_keyframe():
            return
        while self._markers:
            if len(self._markers) > 1:
                self._markers.sort(key=self._after_end)
            marker = self._markers[0]
            start = self._start_of(marker)
            span = (marker - start) & 0xFFFF
            pending = self._pending
            if all((start + i) & 0xFFFF in pending for i in range(span + 1)):
                parts = [pending.pop((start + i) & 0xFFFF) for i in range(span + 1)]
                self._finish(marker)
                self.on_frame(parts)
            elif len(self._markers) > MAX_WAITING_FRAMES:
                if self._each_packet:  # the missing packets were frames of their own
                    self._end = (marker - 1) & 0xFFFF
                    self._skip()
                    continue
                for i in range(span + 1):
                    pending.pop((start + i) & 0xFFFF, None)
                self._finish(marker)
                self._skip()
            else:
                return

    def _first_keyframe(self) -> bool:
        """Start at the first whole keyframe waiting, if there is one (what came before it
        is dropped); after `MAX_WAITING_FRAMES` without one, start as without the option."""
        pending = self._pending
        for marker in self._markers:
            start = self._start_of(marker)
            span = (marker - start) & 0xFFFF
            if pending[start].keyframe_start and all(
                (start + i) & 0xFFFF in pending for i in range(span + 1)
            ):
                self._end = (start - 1) & 0xFFFF
                self._forget_behind(self._end)
                return True
        return len(self._markers) > MAX_WAITING_FRAMES

    def _skip(self) -> None:
        self.frames_skipped += 1
        if self.on_skip is not None:
            self.on_skip()

    def _after_end(self, seq: int) -> int:
        return (seq - self._end) & 0xFFFF if self._end is not None else 0

    def _start_of(self, marker: int) -> int:
        if self._end is not None:
            return (self._end + 1) & 0xFFFF
        # The first frame: its own packets (same timestamp) are all it can start with.
        timestamp = self._pending[marker].timestamp
        offsets = [
            (marker - seq) & 0xFFFF
            for seq, part in self._pending.items()
            if part.timestamp == timestamp
        ]
        return (marker - max(offsets)) & 0xFFFF

    def _finish(self, marker: int) -> None:
        self._end = marker
        self._markers.remove(marker)
        self._forget_behind(marker)

    def _forget_behind(self, end: int) -> None:
        if self._pending:  # whatever is now behind the frame boundary can never complete one
            stale = [s for s in self._pending if not 0 < (s - end) & 0xFFFF < 0x8000]
            for seq in stale:
                del self._pending[seq]
        if self._markers:
            self._markers = [m for m in self._markers if 0 < (m - end) & 0xFFFF < 0x8000]


def frame_counter(kind: str, on_frame: FrameHandler) -> FrameAssembler:
    """An assembler that reports each frame's arrival, size and keyframe to `on_frame`
    (every audio frame decodes on its own)."""
    video = kind == "video"

    def counted(parts: list[Part]) -> None:
        size = sum(len(part.payload) for part in parts)
        keyframe = not video or any(part.keyframe_start for part in parts)
        on_frame(time.time(), size, keyframe)

    return FrameAssembler(kind, counted)


def count_frames_from_rtp(receiver: RTCRtpReceiver, on_frame: FrameHandler) -> None:
    """Make `receiver` report complete frames to `on_frame` instead of decoding them.

    Call before media flows (before `setRemoteDescription` completes). The remote track
    then never yields anything (it ends when the receiver stops), and aiortc's decoder
    thread sits idle."""
    assembler = frame_counter(kind(receiver), on_frame)
    take_over_packets(
        receiver,
        assembler.add,
        on_new_source=assembler.restart,
        starts_keyframe=starts_keyframe,
    )
