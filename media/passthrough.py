"""Handling media without decoding it.

Receiving without decoding. aiortc's `RTCRtpReceiver` runs a decoder thread that builds its decoder
on the first frame and puts what the decoder returns on the remote track's queue. A receiver marked
with `skip_decoding(pc_or_receiver)` builds an `EncodedFrameDecoder` instead (through the seam
"decoders", `agent.webrtc.seams.receiver.decode_with`), whose "decoding" wraps the reassembled
encoded frame in an `av.Packet` (pts on the RTP clock, `time_base`, `is_keyframe` set), so the
remote track's `recv()` yields packets; every other receiver gets aiortc's own decoder, and
`decoder_constructions()` counts those. Packets from such a track can be returned by another track's
`recv()`: aiortc's sender then only packetizes them (`Encoder.pack`), which is how to forward media
without decoding or re-encoding. Mark before media flows (before `setRemoteDescription` completes,
or at the latest in the pc's "track" event): the choice is made when the first frame arrives.

Keyframes. `request_keyframe(receiver)` sends a PLI upstream; `on_keyframe_request(sender,
callback)` tells the owner of a packet-producing track that the far end asked for a keyframe
(aiortc's sender otherwise only sets a flag used when it encodes itself). Both reach into
aiortc through `agent.webrtc.seams`.
"""

from __future__ import annotations

import threading
from fractions import Fraction
from typing import Any

import av
from aiortc import RTCPeerConnection, RTCRtpReceiver
from aiortc.codecs.base import Decoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from agent.webrtc.seams.receiver import decode_with, decoder_constructions, request_keyframe
from agent.webrtc.seams.rtp_push import on_keyframe_request

__all__ = [
    "EncodedFrameDecoder",
    "decoder_constructions",
    "is_keyframe",
    "keyframe_codec",
    "on_keyframe_request",
    "passthrough_constructions",
    "request_keyframe",
    "skip_decoding",
]

_lock = threading.Lock()
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
        global _passthroughs
        with _lock:
            _passthroughs += 1
        self.mime_type = codec.mimeType
        self.time_base = Fraction(1, codec.clockRate)

    def decode(self, encoded_frame: JitterFrame) -> list[Any]:
        packet = av.Packet(encoded_frame.data)
        packet.pts = encoded_frame.timestamp
        packet.dts = encoded_frame.timestamp
        packet.time_base = self.time_base
        packet.is_keyframe = is_keyframe(self.mime_type, encoded_frame.data)
        return [packet]


def skip_decoding(target: RTCPeerConnection | RTCRtpReceiver) -> None:
    """Make a receiver, or every receiver of a peer connection (also those created later by a
    remote offer), deliver `av.Packet`s instead of decoded frames."""
    decode_with(target, EncodedFrameDecoder)


def passthrough_constructions() -> int:
    """`EncodedFrameDecoder`s built in this process."""
    return _passthroughs
