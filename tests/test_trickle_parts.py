"""The pieces of agent/webrtc that need no network: ICE server parsing, candidate conversion,
the pc factory's transceivers and codecs."""

from __future__ import annotations

import re

import pytest
from aioice import Candidate
from aiortc import RTCPeerConnection
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from agent.api.models import (
    ConferenceStreamType,
    IceCandidate,
    IceServersResult,
    IceServersResultV2,
)
from agent.webrtc.candidates import (
    end_of_candidates,
    is_end_of_candidates,
    rtc_from_wire,
    wire_from_aioice,
    wire_from_rtc,
)
from agent.webrtc.factory import create_publisher_pc, create_viewer_pc, media_kinds
from agent.webrtc.ice_servers import (
    NO_ICE_SERVERS,
    StunServer,
    TurnServer,
    ice_servers_from_v1,
    ice_servers_from_v2,
)
from agent.webrtc.trickle import strip_end_of_candidates

# ICE servers


def v2(**fields: object) -> IceServersResultV2:
    return IceServersResultV2.model_validate(fields)


def test_v2_gives_one_stun_and_one_turn_server() -> None:
    servers = ice_servers_from_v2(
        v2(
            stun="stun:stun.example.org:3478",
            turn="turn:turn.example.org:3479?transport=tcp",
            turnUsername="1700000000:user",
            turnPassword="pw-123",
            ttl=86400,
        )
    )
    assert servers.stun == StunServer("stun.example.org", 3478)
    assert servers.turn == TurnServer(
        "turn.example.org", 3479, "tcp", False, "1700000000:user", "pw-123"
    )
    assert servers.ttl == 86400


def test_v2_defaults_and_lists_in_one_field() -> None:
    servers = ice_servers_from_v2(
        v2(
            stun="stuns:secure.example.org, stun:plain.example.org",
            turn="turn:a.example.org?transport=tls turns:b.example.org",
            turnUsername="u",
            turnPassword="p",
        )
    )
    assert servers.stun == StunServer("plain.example.org", 3478)  # aioice has no STUN over TLS
    assert servers.turn is not None
    assert (servers.turn.host, servers.turn.port) == ("b.example.org", 5349)
    assert (servers.turn.transport, servers.turn.secure) == ("tcp", True)


def test_turn_without_credentials_and_bad_urls_are_skipped() -> None:
    servers = ice_servers_from_v2(v2(stun="http://nope", turn="turn:t.example.org"))
    assert servers == NO_ICE_SERVERS
    assert ice_servers_from_v2(v2()) == NO_ICE_SERVERS


def test_v1_takes_the_first_usable_of_each_kind_across_entries() -> None:
    result = IceServersResult.model_validate(
        {
            "iceServers": [
                {"urls": ["turn:first.example.org"]},  # no credentials: unusable
                {"urls": ["stun:s1.example.org:1000", "stun:s2.example.org"]},
                {
                    "urls": ["turn:second.example.org:3478?transport=udp"],
                    "username": "u",
                    "credential": "c-secret",
                },
            ],
            "ttl": 600,
        }
    )
    servers = ice_servers_from_v1(result)
    assert servers.stun == StunServer("s1.example.org", 1000)
    assert servers.turn == TurnServer("second.example.org", 3478, "udp", False, "u", "c-secret")
    assert servers.ttl == 600


def test_turn_password_stays_out_of_reprs() -> None:
    servers = ice_servers_from_v2(
        v2(turn="turn:t.example.org", turnUsername="u", turnPassword="hunter2-secret")
    )
    assert "hunter2-secret" not in repr(servers)
    assert "hunter2-secret" not in str(servers)


# Candidates


def test_candidates_round_trip_between_aioice_wire_and_aiortc() -> None:
    found = Candidate(
        foundation="abc",
        component=1,
        transport="udp",
        priority=1694498815,
        host="203.0.113.7",
        port=40000,
        type="srflx",
        related_address="192.0.2.2",
        related_port=50000,
    )
    wire = wire_from_aioice(found, "0", 0)
    assert wire.candidate == (
        "candidate:abc 1 udp 1694498815 203.0.113.7 40000 typ srflx raddr 192.0.2.2 rport 50000"
    )
    assert wire.to_wire() == {"candidate": wire.candidate, "sdpMid": "0", "sdpMLineIndex": 0}
    rtc = rtc_from_wire(wire)
    assert (rtc.ip, rtc.port, rtc.type, rtc.sdpMid, rtc.sdpMLineIndex) == (
        "203.0.113.7",
        40000,
        "srflx",
        "0",
        0,
    )
    assert wire_from_rtc(rtc) == wire


def test_received_candidate_forms() -> None:
    bare = "abc 1 udp 2130706431 192.0.2.9 5000 typ host"
    for text in (bare, "candidate:" + bare, "a=candidate:" + bare):
        assert rtc_from_wire(IceCandidate(candidate=text, sdp_m_line_index=1)).ip == "192.0.2.9"


@pytest.mark.parametrize(
    ("candidate", "message"),
    [
        (IceCandidate(candidate="candidate:abc 1 udp", sdp_mid="0"), "malformed ICE candidate"),
        (IceCandidate(candidate="candidate:a x udp 1 h 1 typ host", sdp_mid="0"), "malformed"),
        (IceCandidate(candidate="candidate:a 1 udp 1 192.0.2.1 9 typ host"), "sdpMid or sdpM"),
        (IceCandidate(candidate="", sdp_mid="0"), "end-of-candidates"),
    ],
)
def test_bad_received_candidates_are_clear_value_errors(
    candidate: IceCandidate, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        rtc_from_wire(candidate)


def test_end_of_candidates_is_an_empty_candidate() -> None:
    assert end_of_candidates().to_wire() == {"candidate": ""}
    assert is_end_of_candidates(IceCandidate())
    assert not is_end_of_candidates(IceCandidate(candidate="candidate:x", sdp_mid="0"))


def test_strip_end_of_candidates() -> None:
    sdp = "v=0\r\na=candidate:x\r\na=end-of-candidates\r\na=ice-ufrag:u\r\n"
    assert strip_end_of_candidates(sdp) == ("v=0\r\na=candidate:x\r\na=ice-ufrag:u\r\n", True)
    assert strip_end_of_candidates("v=0\r\n") == ("v=0\r\n", False)


# The pc factory


def media_sections(sdp: str) -> list[tuple[str, str, list[str]]]:
    """(kind, direction, codec names) per m-line of an SDP."""
    sections = []
    for block in re.split(r"\r\n(?=m=)", sdp)[1:]:
        kind = block[2:].split(" ", 1)[0]
        direction = re.search(r"^a=(sendonly|recvonly|sendrecv|inactive)", block, re.M)
        codecs = re.findall(r"^a=rtpmap:\d+ ([^/]+)/", block, re.M)
        sections.append((kind, direction.group(1) if direction else "", codecs))
    return sections


async def offer_of(pc: RTCPeerConnection) -> str:
    try:
        return str((await pc.createOffer()).sdp)
    finally:
        await pc.close()


async def test_publisher_offers_send_only_opus_and_vp8_by_default() -> None:
    pc = create_publisher_pc(
        ConferenceStreamType.MIC_AND_CAM,
        {"audio": AudioStreamTrack(), "video": VideoStreamTrack()},
    )
    assert media_sections(await offer_of(pc)) == [
        ("audio", "sendonly", ["opus"]),
        ("video", "sendonly", ["VP8", "rtx"]),
    ]


async def test_publisher_can_offer_h264() -> None:
    pc = create_publisher_pc("SCREEN", {"video": VideoStreamTrack()}, video_codecs=["H264"])
    [(kind, direction, codecs)] = media_sections(await offer_of(pc))
    assert (kind, direction) == ("video", "sendonly")
    assert set(codecs) == {"H264", "rtx"}


async def test_viewer_offers_receive_only_for_the_kinds_of_the_stream() -> None:
    both = media_sections(await offer_of(create_viewer_pc(video_codecs=["VP8", "H264"])))
    assert [(k, d) for k, d, _ in both] == [("audio", "recvonly"), ("video", "recvonly")]
    assert both[1][2][0] == "VP8" and "H264" in both[1][2]
    assert [k for k, _, _ in media_sections(await offer_of(create_viewer_pc("MIC")))] == ["audio"]


def test_stream_types() -> None:
    assert media_kinds("MIC") == ("audio",)
    assert media_kinds(ConferenceStreamType.CAM) == ("video",)
    assert media_kinds("SCREEN") == ("video",)
    assert media_kinds("MIC_AND_CAM") == ("audio", "video")
    for bad in ("UNKNOWN", "WEBCAM"):
        with pytest.raises(ValueError, match="unknown stream type"):
            media_kinds(bad)


async def test_publisher_tracks_must_match_the_stream_type() -> None:
    with pytest.raises(ValueError, match="sends audio and video"):
        create_publisher_pc("MIC_AND_CAM", {"audio": AudioStreamTrack()})
    with pytest.raises(ValueError, match="is a audio track"):
        create_publisher_pc("CAM", {"video": AudioStreamTrack()})
    with pytest.raises(ValueError, match="video codecs"):
        create_viewer_pc(video_codecs=["AV1"])  # type: ignore[list-item]
