"""The router's pure helpers: keyframe detection, offer checks, trickled candidate mapping."""

from __future__ import annotations

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.codecs.vpx import VpxPayloadDescriptor

from media.rtp_seams import starts_keyframe
from server.media.candidates import to_ice_candidates
from server.media.contract import Candidate, MediaRouterError
from server.media.offers import (
    MediaLine,
    check_publish_offer,
    check_view_offer,
    parse_offer,
)

KEY_TAG = b"\x10\x02\x00\x9d\x01\x2a"  # frame tag with bit 0 clear, then the keyframe start code
DELTA_TAG = b"\x31\x02\x00"


def vp8(descriptor: VpxPayloadDescriptor, tag: bytes) -> bytes:
    return bytes(descriptor) + tag


@pytest.mark.parametrize(
    "descriptor",
    [
        VpxPayloadDescriptor(partition_start=1, partition_id=0),
        VpxPayloadDescriptor(partition_start=1, partition_id=0, picture_id=17),
        VpxPayloadDescriptor(partition_start=1, partition_id=0, picture_id=17000),
        VpxPayloadDescriptor(
            partition_start=1, partition_id=0, picture_id=300, tl0picidx=4, tid=(1, 1), keyidx=3
        ),
    ],
)
def test_vp8_keyframe_start_is_found_behind_any_descriptor(
    descriptor: VpxPayloadDescriptor,
) -> None:
    assert starts_keyframe("VP8", vp8(descriptor, KEY_TAG))
    assert not starts_keyframe("VP8", vp8(descriptor, DELTA_TAG))


def test_vp8_keyframe_continuations_do_not_count() -> None:
    middle = VpxPayloadDescriptor(partition_start=0, partition_id=0, picture_id=5)
    other_partition = VpxPayloadDescriptor(partition_start=1, partition_id=1, picture_id=5)
    assert not starts_keyframe("VP8", vp8(middle, KEY_TAG))
    assert not starts_keyframe("VP8", vp8(other_partition, KEY_TAG))
    assert not starts_keyframe("VP8", b"")
    assert not starts_keyframe("VP8", b"\x90\x80")  # truncated descriptor


def test_h264_keyframe_starts() -> None:
    idr = bytes([0x65, 0x88])
    sps = bytes([0x67, 0x42])
    pps = bytes([0x68, 0xCE])
    slice_ = bytes([0x41, 0x9A])
    stap_a = bytes([0x78]) + len(sps).to_bytes(2, "big") + sps + len(pps).to_bytes(2, "big") + pps
    fu_a_idr_start = bytes([0x7C, 0x85, 0x00])
    fu_a_idr_middle = bytes([0x7C, 0x05, 0x00])
    assert starts_keyframe("H264", idr)
    assert starts_keyframe("H264", sps)
    assert starts_keyframe("H264", stap_a)
    assert starts_keyframe("H264", fu_a_idr_start)
    assert not starts_keyframe("H264", fu_a_idr_middle)
    assert not starts_keyframe("H264", slice_)
    assert not starts_keyframe("H264", b"")


def test_unknown_codec_is_never_held_back() -> None:
    assert starts_keyframe("AV1", b"\x00")


def test_offer_checks() -> None:
    with pytest.raises(MediaRouterError, match="no audio or video"):
        parse_offer("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n")
    with pytest.raises(MediaRouterError, match="does not parse"):
        parse_offer("v=0\r\nm=video notaport UDP/TLS/RTP/SAVPF 96\r\n")
    audio_video = [MediaLine("audio", "sendonly"), MediaLine("video", "sendonly")]
    check_publish_offer(audio_video, "MIC_AND_CAM")
    check_publish_offer(audio_video, None)
    with pytest.raises(MediaRouterError, match="a CAM stream offers video"):
        check_publish_offer(audio_video, "CAM")
    with pytest.raises(MediaRouterError, match="at most one video"):
        check_publish_offer([MediaLine("video", "sendonly")] * 2, None)
    check_view_offer([MediaLine("audio", "recvonly")], {"audio", "video"}, "s")
    with pytest.raises(MediaRouterError, match="stream s carries video"):
        check_view_offer([MediaLine("audio", "recvonly")], {"video"}, "s")


async def test_candidates_go_to_the_bundle_transport_and_end_is_none() -> None:
    offerer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    answerer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        offerer.addTransceiver("audio", direction="sendonly")
        offerer.addTransceiver("video", direction="sendonly")
        await offerer.setLocalDescription(await offerer.createOffer())
        await answerer.setRemoteDescription(
            RTCSessionDescription(sdp=offerer.localDescription.sdp, type="offer")
        )
        transceivers = answerer.getTransceivers()
        line = "candidate:1 1 udp 2130706431 192.0.2.9 5000 typ host"
        parsed = to_ice_candidates(
            [
                Candidate(line, sdp_mid="1"),  # names the bundled video m-line
                Candidate("a=" + line, sdp_mline_index=0),
                Candidate(line.removeprefix("candidate:")),  # names nothing
                Candidate(""),
            ],
            transceivers,
        )
        assert [c.sdpMid if c else None for c in parsed] == ["0", "0", "0", None]
        first = parsed[0]
        assert first is not None and (first.ip, first.port, first.type) == (
            "192.0.2.9",
            5000,
            "host",
        )
        with pytest.raises(MediaRouterError, match="malformed ICE candidate"):
            to_ice_candidates([Candidate(line), Candidate("candidate:1 1 udp x")], transceivers)
    finally:
        await offerer.close()
        await answerer.close()
