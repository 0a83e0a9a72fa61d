"""Levers into aiortc for handling media without decoding it. With `media/stats.py` (which
reads per-SSRC counters), `media/rtp_seams.py` (the light receiver's packet handler) and, in
the agent, `agent/webrtc/packet_path.py`, `rtp_push.py` and `udp_reads.py` (the packet path
through aiortc and aioice), the modules that touch aiortc internals: after an aiortc upgrade,
check these.

Receiving without decoding. aiortc's `RTCRtpReceiver` runs a decoder thread that builds its
decoder through `aiortc.rtcrtpreceiver.get_decoder(codec)` on the first frame and puts what
the decoder returns on the remote track's queue. `install()` replaces that lookup with a
dispatcher: for a receiver marked with `skip_decoding(pc_or_receiver)` it builds an
`EncodedFrameDecoder`, whose "decoding" wraps the reassembled encoded frame in an `av.Packet`
(pts on the RTP clock, `time_base`, `is_keyframe` set), so the remote track's `recv()` yields
packets; every other receiver gets aiortc's own decoder, and `decoder_constructions()`
counts those. Packets from such a track can be returned by another track's `recv()`: aiortc's
sender then only packetizes them (`Encoder.pack`), which is how to forward media without
decoding or re-encoding. Mark before media flows (before `setRemoteDescription` completes,
or at the latest in the pc's "track" event): the choice is made when the first frame arrives.

Keyframes. `request_keyframe(receiver)` sends a PLI upstream; `on_keyframe_request(sender,
callback)` tells the owner of a packet-producing track that the far end asked for a keyframe
(aiortc's sender otherwise only sets a flag used when it encodes itself).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import aiortc.rtcrtpreceiver as _receiver_module
import av
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.codecs import get_decoder as _aiortc_get_decoder
from aiortc.codecs.base import Decoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

_lock = threading.Lock()
_installed = False
_marked_pcs: weakref.WeakSet[RTCPeerConnection] = weakref.WeakSet()
_marked_receivers: weakref.WeakSet[RTCRtpReceiver] = weakref.WeakSet()
_constructions = 0
_passthroughs = 0

VP8_KEYFRAME_START = b"\x9d\x01\x2a"
H264_IDR = 5


def is_keyframe(mime_type: str, data: bytes) -> bool:
    """Whether an encoded frame (as aiortc's jitter buffer reassembles it) decodes on its own.

    VP8: the frame tag's P bit is 0 and the keyframe start code follows (RFC 6386 9.1).
    H264: an IDR slice is present (Annex B stream, as aiortc depayloads it). Audio: always.
    """
    mime = mime_type.lower()
    if mime == "video/vp8":
        return len(data) >= 10 and not data[0] & 0x01 and data[3:6] == VP8_KEYFRAME_START
    if mime == "video/h264":
        position = data.find(b"\x00\x00\x01")
        while position != -1 and position + 3 < len(data):
            if data[position + 3] & 0x1F == H264_IDR:
                return True
            position = data.find(b"\x00\x00\x01", position + 3)
        return False
    return not mime.startswith("video/")


def keyframe_codec(data: bytes) -> str | None:
    """ "VP8" or "H264" for a video keyframe as `is_keyframe` accepts it, else None."""
    if len(data) >= 10 and not data[0] & 0x01 and data[3:6] == VP8_KEYFRAME_START:
        return "VP8"
    if data.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01")) and is_keyframe("video/h264", data):
        return "H264"
    return None


class EncodedFrameDecoder(Decoder):
    """A "decoder" that hands the encoded frame on as an `av.Packet` instead of decoding it."""

    def __init__(self, codec: RTCRtpCodecParameters) -> None:
        self.mime_type = codec.mimeType
        self.time_base = Fraction(1, codec.clockRate)

    def decode(self, encoded_frame: JitterFrame) -> list[Any]:
        packet = av.Packet(encoded_frame.data)
        packet.pts = encoded_frame.timestamp
        packet.dts = encoded_frame.timestamp
        packet.time_base = self.time_base
        packet.is_keyframe = is_keyframe(self.mime_type, encoded_frame.data)
        return [packet]


def _decoder_thread(receiver: RTCRtpReceiver) -> threading.Thread | None:
    thread: threading.Thread | None = getattr(receiver, "_RTCRtpReceiver__decoder_thread", None)
    return thread


def _current_receiver_is_marked() -> bool:
    """Called from a receiver's decoder thread: is that receiver one to leave undecoded?"""
    current = threading.current_thread()
    with _lock:
        receivers = list(_marked_receivers)
        for pc in list(_marked_pcs):
            receivers.extend(pc.getReceivers())
    return any(_decoder_thread(r) is current for r in receivers)


def _dispatching_get_decoder(codec: RTCRtpCodecParameters) -> Decoder:
    global _constructions, _passthroughs
    if _current_receiver_is_marked():
        with _lock:
            _passthroughs += 1
        return EncodedFrameDecoder(codec)
    with _lock:
        _constructions += 1
    decoder: Decoder = _aiortc_get_decoder(codec)
    return decoder


def install() -> None:
    """Put the dispatcher in place (idempotent). Unmarked receivers behave exactly as before."""
    global _installed
    with _lock:
        if not _installed:
            _receiver_module.get_decoder = _dispatching_get_decoder  # type: ignore[attr-defined]
            _installed = True


def skip_decoding(target: RTCPeerConnection | RTCRtpReceiver) -> None:
    """Make a receiver, or every receiver of a peer connection (also those created later by a
    remote offer), deliver `av.Packet`s instead of decoded frames."""
    install()
    with _lock:
        if isinstance(target, RTCPeerConnection):
            _marked_pcs.add(target)
        else:
            _marked_receivers.add(target)


def decoder_constructions() -> int:
    """Real decoders aiortc has built since `install()`, for tests and benchmarks."""
    return _constructions


def passthrough_constructions() -> int:
    """`EncodedFrameDecoder`s built since `install()`."""
    return _passthroughs


def _media_ssrcs(receiver: RTCRtpReceiver) -> list[int]:
    rtx: dict[int, int] = getattr(receiver, "_RTCRtpReceiver__rtx_ssrc", {})
    return [s.source for s in receiver.getSynchronizationSources() if s.source not in rtx]


async def request_keyframe(receiver: RTCRtpReceiver) -> bool:
    """Send a PLI for the media the receiver gets; False when nothing has arrived yet (no SSRC
    to name) or RTCP is not set up."""
    ssrcs = _media_ssrcs(receiver)
    if not ssrcs or getattr(receiver, "_RTCRtpReceiver__rtcp_ssrc", None) is None:
        return False
    for ssrc in ssrcs:
        await receiver._send_rtcp_pli(ssrc)
    return True


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Call `callback` whenever the far end of `sender` sends a PLI or FIR.

    aiortc handles those by calling the sender's `_send_keyframe()`, which only matters when
    the sender encodes; a track that returns packets needs to hear about it instead.
    """
    original: Callable[[], None] = sender._send_keyframe

    def send_keyframe() -> None:
        original()
        callback()

    sender._send_keyframe = send_keyframe  # type: ignore[method-assign]
