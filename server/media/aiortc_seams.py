"""Every place the router reaches past aiortc's public API, so an aiortc upgrade is checked here.

aiortc builds an `RTCRtpReceiver` (jitter buffer + decoder thread) and an `RTCRtpSender` (encoder)
into each transceiver and offers no way to plug in anything else. The router swaps in its own
forwarding receiver and sender before negotiation starts; the peer connection then drives them
through the same duck-typed calls (`receive`/`send`, `stop`, `setTransport`, `getStats`, and the
DTLS transport's `_handle_rtp_packet`/`_handle_rtcp_packet`).
"""

from __future__ import annotations

from typing import Any

from aiortc import RTCRtpTransceiver
from aiortc.codecs import get_capabilities, is_rtx
from aiortc.rtcrtpparameters import RTCRtpCodecCapability, RTCRtpCodecParameters


def rtcp_ssrc(transceiver: RTCRtpTransceiver) -> int:
    """The SSRC aiortc signals for this transceiver; its receiver sends RTCP under it."""
    ssrc: int = transceiver.sender._ssrc
    return ssrc


def install_receiver(transceiver: RTCRtpTransceiver, receiver: Any) -> None:
    """Replace aiortc's receiver before it has started (it has no thread or task until then)."""
    setattr(transceiver, "_RTCRtpTransceiver__receiver", receiver)  # noqa: B010


def install_sender(transceiver: RTCRtpTransceiver, sender: Any) -> None:
    """Replace aiortc's sender before it has started; keeps the peer connection's stream id."""
    sender._stream_id = transceiver.sender._stream_id
    setattr(transceiver, "_RTCRtpTransceiver__sender", sender)  # noqa: B010


def keep_first_codec(transceiver: RTCRtpTransceiver) -> RTCRtpCodecParameters:
    """Answer with the offerer's first usable codec (and its RTX) only.

    The router forwards one codec's payload as it is; answering with one codec pins what the
    publisher sends, so every viewer can be asked for exactly that codec.
    """
    codecs: list[RTCRtpCodecParameters] = transceiver._codecs
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
    codecs: list[RTCRtpCodecParameters] = transceiver._codecs
    return codecs


def is_bundled(transceiver: RTCRtpTransceiver) -> bool:
    """True when this transceiver rides another one's transport (aiortc ignores its candidates)."""
    return bool(transceiver._bundled)


def mline_index(transceiver: RTCRtpTransceiver) -> int | None:
    index: int | None = transceiver._get_mline_index()
    return index
