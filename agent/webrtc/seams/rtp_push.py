"""Packetize once, send many: a shared encoder's packets pushed into every subscriber's sender.

With encode-once (`media.fanout`), each of N senders still pulled every packet through its own
queue and task (`recv()` on the subscriber track, a task switch per frame), packetized it again
(`Encoder.pack`, per sender) and awaited five coroutines per RTP packet: after the encode, the
biggest per-participant cost of a load test. Here the sender's RTP loop is replaced by a push:
the shared encoder's task hands each packet to every pushed sender in turn, the payloads are
made once per packet for all of them, and each sender only writes its RTP header, protects
and sends (`packet_path.send_rtp`, no coroutine when the socket takes it at once).

What aiortc's loop keeps for the rest of the sender is kept: sequence numbers and timestamps
from a random origin, the `mid` and `abs-send-time` header extensions, the retransmission
history (NACK/RTX), the counters its RTCP sender reports use, `_enabled`, and the end of the
loop when the connection goes. If the sender's track is replaced (`replaceTrack`), the push
stops and aiortc's own loop takes over with the new track. This module writes aiortc's
sender's private state (declared below): after an aiortc upgrade, check it with
`tests/test_seams.py` and `tests/test_rtp_push.py`.

`on_keyframe_request` and `on_remb` are the sender's other levers: aiortc answers a PLI or
FIR by calling the sender's `_send_keyframe()`, and a REMB by setting its own encoder's
`target_bitrate`, which only matter when the sender encodes itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Callable
from typing import Any, Protocol

import aiortc.rtcrtpsender as _sender_module
import av
from aiortc import RTCRtpSender
from aiortc.codecs import get_encoder
from aiortc.codecs.base import Encoder
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpsender import random_sequence_number
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTP_HISTORY_SIZE,
    AnyRtcpPacket,
    RtcpPsfbPacket,
    unpack_remb_fci,
)
from aiortc.utils import random32, uint16_add, uint32_add

from agent.webrtc.seams import packet_path
from agent.webrtc.seams.private import mangled, reaches, read
from agent.webrtc.seams.rtp_header import BytesHistory, HeaderWriter
from agent.webrtc.seams.versions import check

__all__ = ["PacketPusher", "PushedTrack", "on_keyframe_request", "on_remb", "push_into"]

log = logging.getLogger(__name__)

_SENDER = "aiortc.rtcrtpsender.RTCRtpSender"
# aiortc's sender keeps its state in name-mangled attributes; their keys:
(
    _ENCODER,
    _MID,
    _NTP_TIMESTAMP,
    _OCTET_COUNT,
    _PACKET_COUNT,
    _RTP_EXITED,
    _RTP_HEADER_EXTENSIONS_MAP,
    _RTP_HISTORY,
    _RTP_STARTED,
    _RTP_TIMESTAMP,
    _TRACK,
) = reaches(
    _SENDER,
    "instance",
    *(
        mangled("RTCRtpSender", name)
        for name in (
            "encoder",
            "mid",
            "ntp_timestamp",
            "octet_count",
            "packet_count",
            "rtp_exited",
            "rtp_header_extensions_map",
            "rtp_history",
            "rtp_started",
            "rtp_timestamp",
            "track",
        )
    ),
)
reaches(_SENDER, "instance", "_enabled", "_ssrc")
reaches(_SENDER, "class", "_run_rtp", "_send_keyframe")
reaches("aiortc.rtcrtpsender", "module", "random_sequence_number")
(_PICTURE_ID,) = reaches("aiortc.codecs.vpx.Vp8Encoder", "instance", "picture_id")
"""The VP8 packetizer's running picture id, written in every payload descriptor."""


class PacketPusher(Protocol):
    """What a pushed track hands its packets to."""

    def push(self, packet: av.Packet[Any]) -> None: ...

    def end(self) -> None: ...


class PushedTrack(Protocol):
    """A track that can push its packets (`media.fanout.PacketQueueTrack`)."""

    @property
    def source(self) -> object:
        """What the packets come from: senders of one source share their packetizer."""
        ...

    def push_to(self, pusher: PacketPusher) -> None: ...

    def stop_pushing(self, pusher: PacketPusher) -> None: ...


Payloads = tuple[list[bytes], int]


class _SharedPacker:
    """One packetizer per shared source and codec; the last packet's payloads are reused by
    every sender that is handed the same packet.

    A shared encoder's rungs (`media.fanout.SharedEncoder`) encode the same source frames, and
    their packets all pass here. VP8's picture id is numbered per source frame, not per packet:
    the rungs of one frame carry one id, so each rung's ids run on without gaps and a stream that
    switches rungs keeps counting. Numbered per packet, two rungs interleaved their ids, and
    Chromium, which takes a gap in picture ids for a lost frame, stopped decoding the stream a
    couple of seconds into a call (aiortc's receiver does not read the ids)."""

    PICTURES_KEPT = 16
    """Recent frames (presentation times) remembered with their picture id: the rungs of one
    frame are encoded together, so their packets arrive within a frame or two of each other."""

    def __init__(self, encoder: Encoder) -> None:
        self._encoder = encoder
        self._last: tuple[av.Packet[Any], Payloads] | None = None
        self._pictures: dict[int, int] | None = None
        if hasattr(encoder, _PICTURE_ID):
            self._pictures = {}
            self._next_picture: int = getattr(encoder, _PICTURE_ID)  # aiortc's random start

    def pack(self, packet: av.Packet[Any]) -> Payloads:
        last = self._last
        if last is not None and last[0] is packet:
            return last[1]
        if self._pictures is not None and packet.pts is not None:
            setattr(self._encoder, _PICTURE_ID, self._picture_id(packet.pts))
        payloads: Payloads = self._encoder.pack(packet)
        self._last = (packet, payloads)
        return payloads

    def _picture_id(self, pts: int) -> int:
        pictures = self._pictures
        assert pictures is not None
        found = pictures.get(pts)
        if found is None:
            found = pictures[pts] = self._next_picture
            self._next_picture = (found + 1) % (1 << 15)
            if len(pictures) > self.PICTURES_KEPT:
                del pictures[next(iter(pictures))]  # the oldest (insertion order)
        return found


_packers: weakref.WeakKeyDictionary[object, dict[str, _SharedPacker]] = weakref.WeakKeyDictionary()


def _packer(source: object, codec: RTCRtpCodecParameters) -> _SharedPacker:
    by_codec = _packers.setdefault(source, {})
    packer = by_codec.get(codec.mimeType)
    if packer is None:
        packer = by_codec[codec.mimeType] = _SharedPacker(get_encoder(codec))
    return packer


class _Push:
    """One sender fed by one subscriber track."""

    def __init__(
        self,
        sender: RTCRtpSender,
        codec: RTCRtpCodecParameters,
        subscriber: PushedTrack,
        lent: MediaStreamTrack,
    ) -> None:
        self.sender = sender
        self.state: dict[str, Any] = vars(sender)
        self.lent = lent
        self.packer = _packer(subscriber.source, codec)
        if codec.payloadType is None:
            raise ValueError(f"{codec.mimeType} has no payload type: not negotiated")
        self.payload_type: int = codec.payloadType
        self.sequence_number = random_sequence_number()
        self.timestamp_origin = random32()
        self.done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        # Configured by `send()` before the RTP loop starts, fixed from then on.
        extensions_map = self.state[_RTP_HEADER_EXTENSIONS_MAP]
        self.header = HeaderWriter(
            extensions_map, self.payload_type, sender._ssrc, self.state[_MID]
        )
        history = BytesHistory(extensions_map)
        history.update(self.state[_RTP_HISTORY])
        self.state[_RTP_HISTORY] = self.history = history

    def push(self, packet: av.Packet[Any]) -> None:
        if self.done.done():
            return
        state = self.state
        if state[_TRACK] is not self.lent:
            self._finish("replaced")
            return
        if not self.sender._enabled:
            return
        payloads, timestamp = self.packer.pack(packet)
        if not payloads:
            return
        timestamp = uint32_add(self.timestamp_origin, timestamp)
        write = self.header.write
        history = self.history
        last = len(payloads) - 1
        sequence_number = self.sequence_number
        # One clock read per push (aiortc reads it per packet and once more after the loop):
        # a frame's packets leave together (one GSO send), within a few of abs-send-time's 3.8 µs.
        now = packet_path.current_ntp_time()
        abs_send_time = (now >> 14) & 0xFFFFFF
        packets: list[bytes] = []
        for index, payload in enumerate(payloads):
            data = write(sequence_number, timestamp, index == last, abs_send_time, payload)
            history[sequence_number % RTP_HISTORY_SIZE] = data
            packets.append(data)
            sequence_number = uint16_add(sequence_number, 1)
        try:
            packet_path.send_rtp_batch(self.sender.transport, packets)
        except ConnectionError:
            self._finish("disconnected")  # aiortc's loop ends the same way
            return
        self.sequence_number = sequence_number
        state[_PACKET_COUNT] += len(packets)
        state[_OCTET_COUNT] += sum(map(len, payloads))
        state[_NTP_TIMESTAMP] = now
        state[_RTP_TIMESTAMP] = timestamp

    def end(self) -> None:
        self._finish("ended")

    def _finish(self, why: str) -> None:
        if not self.done.done():
            self.done.set_result(why)


def _continue_sequence(next_number: int) -> None:
    """Make aiortc's next `random_sequence_number()` call (and only it) return `next_number`."""
    draw = _sender_module.random_sequence_number

    def once() -> int:
        _sender_module.random_sequence_number = draw
        return next_number

    _sender_module.random_sequence_number = once


def push_into(sender: RTCRtpSender, subscriber: PushedTrack) -> None:
    """Feed `sender` from `subscriber` by push. Call before the sender starts (before the
    offer/answer completes), with `sender.track` already the track it was created with."""
    check("aiortc")
    lent = sender.track
    if lent is None:
        raise ValueError("push_into needs a sender with its track")
    aiortc_run_rtp = read(sender, "_run_rtp")
    state = vars(sender)

    async def run_rtp(codec: RTCRtpCodecParameters) -> None:
        push = _Push(sender, codec, subscriber, lent)
        subscriber.push_to(push)
        try:
            state[_RTP_STARTED].set()
            why = await push.done
        except asyncio.CancelledError:
            why = "stopped"
        finally:
            subscriber.stop_pushing(push)
        if why == "replaced":
            log.debug("track replaced: the sender pulls from the new track")
            # Same SSRC, so the sequence must go on (SRTP refuses an index that went back):
            # aiortc's loop draws its first sequence number before it first waits.
            _continue_sequence(push.sequence_number)
            await aiortc_run_rtp(codec)
            return
        # What aiortc's loop does on its way out: stop the track, drop the encoder.
        track = state[_TRACK]
        if track is not None:
            track.stop()
            state[_TRACK] = None
        state[_ENCODER] = None
        state[_RTP_EXITED].set()

    sender._run_rtp = run_rtp  # type: ignore[method-assign]


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call `callback` whenever the far end of `sender` sends a PLI or FIR.

    aiortc handles those by calling the sender's `_send_keyframe()`, which only matters when
    the sender encodes; a track that returns packets needs to hear about it instead.
    """
    check("aiortc")
    original: Callable[[], None] = read(sender, "_send_keyframe")

    def send_keyframe() -> None:
        original()
        callback()

    sender._send_keyframe = send_keyframe  # type: ignore[method-assign]


def on_remb(sender: RTCRtpSender, callback: Callable[[int], None]) -> None:
    """Call `callback(bits per second)` whenever the far end of `sender` sends a REMB for it.

    Per RTCP packet (about one a second), not per RTP packet: aiortc's handler runs first and
    the REMB is read once more here for a track that returns packets (a shared encoder)."""
    check("aiortc")
    original: Callable[[AnyRtcpPacket], Any] = read(sender, "_handle_rtcp_packet")
    ssrc: int = read(sender, "_ssrc")

    async def handle_rtcp_packet(packet: AnyRtcpPacket) -> None:
        await original(packet)
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            with contextlib.suppress(ValueError):
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
                if ssrc in ssrcs:
                    callback(bitrate)

    sender._handle_rtcp_packet = handle_rtcp_packet  # type: ignore[method-assign]
