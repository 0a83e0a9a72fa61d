"""aiortc's transceiver and DTLS transport, as the router reaches past their public API.

aiortc builds an `RTCRtpReceiver` (jitter buffer + decoder thread) and an `RTCRtpSender` (encoder)
into each transceiver and offers no way to plug in anything else. The router swaps in its own
forwarding receiver and sender before negotiation starts; the peer connection then drives them
through the same duck-typed calls (`receive`/`send`, `stop`, `setTransport`, `getStats`, and the
DTLS transport's `_handle_rtp_packet`/`_handle_rtcp_packet`); the swapped-in receiver and
sender register with the DTLS transport and send through it with `agent.webrtc.seams.dtls`.
"""

from __future__ import annotations

from typing import Any

from aiortc import RTCRtpTransceiver
from aiortc.codecs import get_capabilities, is_rtx
from aiortc.rtcrtpparameters import RTCRtpCodecCapability, RTCRtpCodecParameters

from agent.webrtc.seams.private import mangled, reaches, read, write
from agent.webrtc.seams.versions import check

_TRANSCEIVER = "aiortc.rtcrtptransceiver.RTCRtpTransceiver"
_RECEIVER_SLOT, _SENDER_SLOT = reaches(
    _TRANSCEIVER,
    "instance",
    mangled("RTCRtpTransceiver", "receiver"),
    mangled("RTCRtpTransceiver", "sender"),
)
reaches(_TRANSCEIVER, "instance", "_codecs", "_bundled")
reaches(_TRANSCEIVER, "class", "_get_mline_index")
reaches("aiortc.rtcrtpsender.RTCRtpSender", "instance", "_ssrc", "_stream_id")
# What aiortc calls on the receiver and sender a transceiver holds (the router's implement them).
reaches(
    "aiortc.rtcrtpreceiver.RTCRtpReceiver",
    "class",
    "_handle_rtp_packet",
    "_handle_rtcp_packet",
    "_handle_disconnect",
    "_set_rtcp_ssrc",
)
reaches("aiortc.rtcrtpsender.RTCRtpSender", "class", "_handle_rtcp_packet")


def rtcp_ssrc(transceiver: RTCRtpTransceiver) -> int:
    """The SSRC aiortc signals for this transceiver; its receiver sends RTCP under it."""
    ssrc: int = read(transceiver.sender, "_ssrc")
    return ssrc


def install_receiver(transceiver: RTCRtpTransceiver, receiver: Any) -> None:
    """Replace aiortc's receiver before it has started (it has no thread or task until then)."""
    check("aiortc")
    write(transceiver, _RECEIVER_SLOT, receiver)


def install_sender(transceiver: RTCRtpTransceiver, sender: Any) -> None:
    """Replace aiortc's sender before it has started; keeps the peer connection's stream id."""
    check("aiortc")
    sender._stream_id = read(transceiver.sender, "_stream_id")
    write(transceiver, _SENDER_SLOT, sender)


def keep_first_codec(transceiver: RTCRtpTransceiver) -> RTCRtpCodecParameters:
    """Answer with the offerer's first usable codec (and its RTX) only.

    The router forwards one codec's payload as it is; answering with one codec pins what the
    publisher sends, so every viewer can be asked for exactly that codec.
    """
    codecs: list[RTCRtpCodecParameters] = read(transceiver, "_codecs")
    media = next(c for c in codecs if not is_rtx(c))
    transceiver._codecs = [media] + [
        c for c in codecs if is_rtx(c) and c.parameters.get("apt") == media.payloadType
    ]
    return media


def prefer_codec(transceiver: RTCRtpTransceiver, codec: RTCRtpCodecParameters) -> None:
    """Ask a viewer's transceiver to negotiate the publisher's codec (and RTX) and nothing else."""
    capability = RTCRtpCodecCapability(
        mimeType=codec.mimeType,
        clockRate=codec.clockRate,
        channels=codec.channels,
        parameters=codec.parameters,
    )
    rtx = [c for c in get_capabilities(transceiver.kind).codecs if is_rtx(c)]
    transceiver.setCodecPreferences([capability, *rtx])


def negotiated_codecs(transceiver: RTCRtpTransceiver) -> list[RTCRtpCodecParameters]:
    codecs: list[RTCRtpCodecParameters] = read(transceiver, "_codecs")
    return codecs


def is_bundled(transceiver: RTCRtpTransceiver) -> bool:
    """True when this transceiver rides another one's transport (aiortc ignores its candidates)."""
    return bool(read(transceiver, "_bundled"))


def mline_index(transceiver: RTCRtpTransceiver) -> int | None:
    index: int | None = read(transceiver, "_get_mline_index")()
    return index
