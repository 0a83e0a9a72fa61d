"""aiortc's `RTCRtpReceiver`: decoders chosen per receiver, its per-SSRC state, its packet handler.

Decoders. aiortc's receiver runs a decoder thread that builds its decoder through
`aiortc.rtcrtpreceiver.get_decoder(codec)` on the first frame. The seam "decoders" replaces
that lookup with a dispatcher: a receiver given a factory by `decode_with(pc_or_receiver, ...)`
gets the factory's decoder (`media.passthrough` hands on encoded frames that way); every other
receiver gets aiortc's own, counted by `decoder_constructions()`.

State. `media_streams` (per-SSRC statistics, RTX left out) feeds `media.stats`;
`request_keyframe` sends a PLI for what the receiver gets.

Packets. `take_over_packets(receiver, on_packet)` replaces the receiver's packet handler with
one that keeps what the connection needs (per-SSRC statistics for RTCP receiver reports and
`getStats`, RTX unwrapping, NACKs) and hands each media packet to `on_packet` instead of the
jitter buffer and decoder (`media.rtp_seams` counts frames that way). It skips the receive-side
bandwidth estimation: its REMB feedback adapts nothing for a receiver that does not decode.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

import aiortc.rtcrtpreceiver as _receiver_module
from aiortc import RTCPeerConnection, RTCRtpReceiver, clock
from aiortc.codecs import get_decoder as _aiortc_get_decoder
from aiortc.codecs import is_rtx
from aiortc.codecs.base import Decoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtcrtpreceiver import StreamStatistics
from aiortc.rtp import RtpPacket, unwrap_rtx

from agent.webrtc.seams.private import mangled, reaches, read
from agent.webrtc.seams.versions import check

__all__ = [
    "DecoderFactory",
    "KeyframeTest",
    "MediaPacketHandler",
    "decode_with",
    "decoder_constructions",
    "decoders_installed",
    "depayloaded",
    "install_decoders",
    "jitter_seconds",
    "kind",
    "media_streams",
    "request_keyframe",
    "retransmitted_packets",
    "take_over_packets",
]

_RECEIVER = "aiortc.rtcrtpreceiver.RTCRtpReceiver"
_R = "RTCRtpReceiver"
_KIND, _CODECS, _RTX_SSRC, _REMOTE_STREAMS, _ACTIVE_SSRC, _NACK, _DECODER_THREAD, _RTCP_SSRC = (
    reaches(
        _RECEIVER,
        "instance",
        *(
            mangled(_R, name)
            for name in (
                "kind",
                "codecs",
                "rtx_ssrc",
                "remote_streams",
                "active_ssrc",
                "nack_generator",
                "decoder_thread",
                "rtcp_ssrc",
            )
        ),
    )
)
reaches(_RECEIVER, "instance", "_enabled")
reaches(_RECEIVER, "class", "_handle_rtp_packet", "_send_rtcp_nack", "_send_rtcp_pli")
reaches("aiortc.rtcrtpreceiver", "module", "get_decoder")
reaches("aiortc.rtcrtpreceiver.StreamStatistics", "instance", "_clockrate")
(_DEPAYLOADED,) = reaches("aiortc.jitterbuffer", "source", "_data")

DecoderFactory = Callable[[RTCRtpCodecParameters], Decoder]
MediaPacketHandler = Callable[[RtpPacket, bool], None]
"""`on_packet(packet, keyframe_start)`: one media packet (RTX unwrapped), and whether it starts
a video keyframe (as `starts_keyframe` tells)."""
KeyframeTest = Callable[[str, bytes], bool]
"""`starts_keyframe(codec_name, payload)`: whether an RTP payload starts a keyframe."""

_lock = threading.Lock()
_by_pc: weakref.WeakKeyDictionary[RTCPeerConnection, DecoderFactory] = weakref.WeakKeyDictionary()
_by_receiver: weakref.WeakKeyDictionary[RTCRtpReceiver, DecoderFactory] = (
    weakref.WeakKeyDictionary()
)
_constructions = 0


def _factory_of_current_thread() -> DecoderFactory | None:
    """Called from a receiver's decoder thread: the factory given for that receiver, if any."""
    current = threading.current_thread()
    with _lock:
        candidates = list(_by_receiver.items())
        for pc, factory in list(_by_pc.items()):
            candidates.extend((receiver, factory) for receiver in pc.getReceivers())
    for receiver, factory in candidates:
        if vars(receiver)[_DECODER_THREAD] is current:
            return factory
    return None


def _dispatching_get_decoder(codec: RTCRtpCodecParameters) -> Decoder:
    global _constructions
    factory = _factory_of_current_thread()
    if factory is not None:
        return factory(codec)
    with _lock:
        _constructions += 1
    decoder: Decoder = _aiortc_get_decoder(codec)
    return decoder


def decoders_installed() -> bool:
    return bool(read(_receiver_module, "get_decoder") is _dispatching_get_decoder)


def install_decoders() -> bool:
    """Put the dispatcher in place (idempotent); True if this call did. Receivers without a
    factory behave exactly as before."""
    with _lock:
        if decoders_installed():
            return False
        _receiver_module.get_decoder = _dispatching_get_decoder  # type: ignore[attr-defined]
        return True


def decode_with(target: RTCPeerConnection | RTCRtpReceiver, factory: DecoderFactory) -> None:
    """Make a receiver, or every receiver of a peer connection (also those created later by a
    remote offer), build its decoder with `factory`. Installs the seam "decoders"; call before
    the first frame arrives (the decoder is built then)."""
    check("aiortc")
    install_decoders()
    with _lock:
        if isinstance(target, RTCPeerConnection):
            _by_pc[target] = factory
        else:
            _by_receiver[target] = factory


def decoder_constructions() -> int:
    """aiortc's own decoders built through the dispatcher, for tests and benchmarks."""
    return _constructions


def depayloaded(packet: RtpPacket, data: bytes) -> RtpPacket:
    """`packet` carrying its depayloaded bytes where aiortc's `JitterBuffer` reads them (aiortc's
    receiver sets them so before adding a packet to its jitter buffer)."""
    setattr(packet, _DEPAYLOADED, data)
    return packet


def kind(receiver: RTCRtpReceiver) -> str:
    """ "audio" or "video"."""
    value: str = read(receiver, _KIND)
    return value


def media_streams(receiver: RTCRtpReceiver) -> list[tuple[int, StreamStatistics]]:
    """(SSRC, statistics) of each media stream that arrived (RTX streams are counted in theirs)."""
    streams: dict[int, StreamStatistics] = read(receiver, _REMOTE_STREAMS)
    rtx: dict[int, int] = read(receiver, _RTX_SSRC)
    return [
        (ssrc, stream)
        for ssrc, stream in list(streams.items())
        if ssrc not in rtx and stream.max_seq is not None
    ]


def retransmitted_packets(receiver: RTCRtpReceiver) -> int:
    """RTX packets that arrived (retransmissions answering this receiver's NACKs)."""
    streams: dict[int, StreamStatistics] = read(receiver, _REMOTE_STREAMS)
    rtx: dict[int, int] = read(receiver, _RTX_SSRC)
    return sum(stream.packets_received for ssrc, stream in list(streams.items()) if ssrc in rtx)


def jitter_seconds(stream: StreamStatistics) -> float:
    """Interarrival jitter in seconds (aiortc keeps it in RTP clock units)."""
    clock_rate: int = read(stream, "_clockrate")
    return float(stream.jitter) / clock_rate


async def request_keyframe(receiver: RTCRtpReceiver) -> bool:
    """Send a PLI for the media the receiver gets; False when nothing has arrived yet (no SSRC
    to name) or RTCP is not set up."""
    check("aiortc")
    rtx: dict[int, int] = read(receiver, _RTX_SSRC)
    ssrcs = [s.source for s in receiver.getSynchronizationSources() if s.source not in rtx]
    if not ssrcs or read(receiver, _RTCP_SSRC) is None:
        return False
    for ssrc in ssrcs:
        await receiver._send_rtcp_pli(ssrc)
    return True


def take_over_packets(
    receiver: RTCRtpReceiver,
    on_packet: MediaPacketHandler,
    *,
    on_new_source: Callable[[], None],
    starts_keyframe: KeyframeTest,
) -> None:
    """Hand every media packet of `receiver` to `on_packet` instead of decoding it;
    `on_new_source()` first when its SSRC is not the previous packet's (sequence numbers start
    over). The callbacks are called straight from the packet handler (no wrapper per packet).

    Call before media flows (before `setRemoteDescription` completes). The remote track then
    never yields anything (it ends when the receiver stops), and aiortc's decoder thread sits
    idle."""
    check("aiortc")
    state: dict[str, Any] = vars(receiver)
    media_kind: str = state[_KIND]
    video = media_kind == "video"
    codecs: dict[int, RTCRtpCodecParameters] = state[_CODECS]
    rtx_ssrc: dict[int, int] = state[_RTX_SSRC]
    statistics: dict[int, StreamStatistics] = state[_REMOTE_STREAMS]
    active: dict[int, Any] = state[_ACTIVE_SSRC]
    nack = state[_NACK]
    read(receiver, "_send_rtcp_nack")
    read(receiver, "_handle_rtp_packet")  # what aiortc's DTLS transport calls
    media_ssrc: list[int | None] = [None]

    async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
        if not receiver._enabled:
            return
        codec = codecs.get(packet.payload_type)
        if codec is None:
            return
        source = statistics.get(packet.ssrc)
        if source is None:
            source = statistics[packet.ssrc] = StreamStatistics(codec.clockRate)
        source.add(packet)
        if packet.marker or not video:
            # getSynchronizationSources() (what a PLI is addressed to) wants recent arrivals.
            active[packet.ssrc] = clock.current_datetime()
        if is_rtx(codec):
            original = rtx_ssrc.get(packet.ssrc)
            apt = codec.parameters.get("apt")
            if original is None or len(packet.payload) < 2 or not isinstance(apt, int):
                return
            media_codec = codecs.get(apt)
            if media_codec is None:
                return
            packet, codec = unwrap_rtx(packet, payload_type=apt, ssrc=original), media_codec
        if packet.ssrc != media_ssrc[0]:
            media_ssrc[0] = packet.ssrc
            active[packet.ssrc] = clock.current_datetime()
            on_new_source()
        if nack is not None and nack.add(packet):
            await receiver._send_rtcp_nack(packet.ssrc, sorted(nack.missing))
        on_packet(packet, video and starts_keyframe(codec.name, packet.payload))

    receiver._handle_rtp_packet = handle_rtp_packet  # type: ignore[method-assign]
