"""The push path's RTP packets (`agent.webrtc.seams.rtp_header`) are aiortc's byte for byte, for
every extensions map a sender can negotiate, survive an SRTP round trip, and the bytes history
hands aiortc's retransmission the packet it asks for."""

from __future__ import annotations

import os
import random

import pylibsrtp
import pytest
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import RTP_HISTORY_SIZE, HeaderExtensionsMap, RtpPacket

from agent.webrtc.seams.rtp_header import BytesHistory, HeaderWriter

_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
_ABS = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
_TWCC = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"


def extensions_map(*ids_and_uris: tuple[int, str]) -> HeaderExtensionsMap:
    extensions = HeaderExtensionsMap()
    extensions.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=i, uri=uri) for i, uri in ids_and_uris
            ]
        )
    )
    return extensions


MAPS = {
    "mid+abs-send-time (aiortc's offer)": ((1, _MID), (2, _ABS)),
    "abs-send-time first": ((3, _ABS), (9, _MID)),
    "mid only": ((4, _MID),),
    "abs-send-time only": ((2, _ABS),),
    "transport-cc too (aiortc sends none)": ((1, _MID), (2, _ABS), (5, _TWCC)),
    "none": (),
    "two-byte form (id 15)": ((15, _MID), (2, _ABS)),
}


def aiortc_bytes(
    extensions: HeaderExtensionsMap,
    mid: str | None,
    fields: tuple[int, int, bool, int, bytes],
    payload_type: int = 96,
    ssrc: int = 0x12345678,
) -> bytes:
    sequence_number, timestamp, marker, abs_send_time, payload = fields
    packet = RtpPacket(
        payload_type=payload_type,
        sequence_number=sequence_number,
        timestamp=timestamp,
        marker=int(marker),
        ssrc=ssrc,
        payload=payload,
    )
    packet.extensions.abs_send_time = abs_send_time
    packet.extensions.mid = mid
    return packet.serialize(extensions)


@pytest.mark.parametrize("mid", ["0", "video1", "a-mid-of-sixteen", None])
@pytest.mark.parametrize("negotiated", list(MAPS.values()), ids=list(MAPS))
def test_headers_are_aiortcs_byte_for_byte(
    negotiated: tuple[tuple[int, str], ...], mid: str | None
) -> None:
    rng = random.Random(11)
    extensions = extensions_map(*negotiated)
    writer = HeaderWriter(extensions, 96, 0x12345678, mid)
    edges = [(0, 0, False, 0, b""), (0xFFFF, 0xFFFFFFFF, True, 0xFFFFFF, b"\xff" * 1200)]
    randoms = [
        (
            rng.randrange(1 << 16),
            rng.randrange(1 << 32),
            rng.random() < 0.5,
            rng.randrange(1 << 24),
            rng.randbytes(rng.randrange(1, 1300)),
        )
        for _ in range(200)
    ]
    for fields in edges + randoms:
        assert writer.write(*fields) == aiortc_bytes(extensions, mid, fields), fields


def test_an_srtp_round_trip_gives_back_the_fields() -> None:
    key = os.urandom(30)
    sender = pylibsrtp.Session(
        pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    )
    receiver = pylibsrtp.Session(
        pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND)
    )
    extensions = extensions_map(*MAPS["mid+abs-send-time (aiortc's offer)"])
    writer = HeaderWriter(extensions, 111, 0xCAFE, "1")
    for sequence_number in range(1000, 1020):
        data = writer.write(sequence_number, 48_000 + sequence_number, True, 0xABCDE, b"opus" * 20)
        protected = sender.protect(data)
        assert protected != data and len(protected) > len(data)  # encrypted, with its tag
        packet = RtpPacket.parse(receiver.unprotect(protected), extensions)
        assert (packet.sequence_number, packet.timestamp, packet.marker) == (
            sequence_number,
            48_000 + sequence_number,
            1,
        )
        assert (packet.payload_type, packet.ssrc) == (111, 0xCAFE)
        assert (packet.extensions.mid, packet.extensions.abs_send_time) == ("1", 0xABCDE)
        assert packet.payload == b"opus" * 20


def test_the_bytes_history_gives_aiortc_the_packet_a_nack_names() -> None:
    extensions = extensions_map(*MAPS["mid+abs-send-time (aiortc's offer)"])
    writer = HeaderWriter(extensions, 96, 7, "0")
    history = BytesHistory(extensions)
    for sequence_number in range(RTP_HISTORY_SIZE + 5):  # the oldest five overwritten
        data = writer.write(sequence_number, 90_000, False, 12, bytes([sequence_number % 256]))
        history[sequence_number % RTP_HISTORY_SIZE] = data
    newer = RTP_HISTORY_SIZE + 2  # in slot 2, over sequence number 2
    packet = history.get(newer % RTP_HISTORY_SIZE)
    assert isinstance(packet, RtpPacket)
    assert packet.sequence_number == newer  # aiortc checks this before it retransmits
    assert packet.payload == bytes([newer % 256])
    # Re-serialized the way `_retransmit` does: the same bytes as were sent.
    assert packet.serialize(extensions) == history[newer % RTP_HISTORY_SIZE]
    assert history.get(RTP_HISTORY_SIZE + 100) is None  # not a slot
    aiortc_packet = RtpPacket(sequence_number=3)  # aiortc's own loop after a replaceTrack
    history[3] = aiortc_packet
    assert history.get(3) is aiortc_packet
