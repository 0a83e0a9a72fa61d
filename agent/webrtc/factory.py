"""Peer connections for publishing and viewing one conference stream.

Every pc is created without ICE servers: aiortc would otherwise query them inside
`setLocalDescription` (and, given none at all, fall back to a public Google STUN server). The
platform's servers are used by `TrickleSession` instead, after the offer has left.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, get_args

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
)

from agent.api.models import ConferenceStreamType
from agent.webrtc.seams.peer_connection import PeerConnection

MediaKind = Literal["audio", "video"]
VideoCodec = Literal["VP8", "H264"]

STREAM_KINDS: dict[ConferenceStreamType, tuple[MediaKind, ...]] = {
    ConferenceStreamType.MIC: ("audio",),
    ConferenceStreamType.CAM: ("video",),
    ConferenceStreamType.SCREEN: ("video",),
    ConferenceStreamType.MIC_AND_CAM: ("audio", "video"),
}
DEFAULT_VIDEO_CODECS: tuple[VideoCodec, ...] = ("VP8",)


def new_peer_connection() -> RTCPeerConnection:
    return PeerConnection(RTCConfiguration(iceServers=[]))


def media_kinds(stream_type: ConferenceStreamType | str) -> tuple[MediaKind, ...]:
    """The media a stream type carries; ValueError for UNKNOWN or a type the seed lacks."""
    try:
        return STREAM_KINDS[ConferenceStreamType(stream_type)]
    except (KeyError, ValueError):
        raise ValueError(
            f"unknown stream type {stream_type!r}; expected one of {', '.join(STREAM_KINDS)}"
        ) from None


def create_publisher_pc(
    stream_type: ConferenceStreamType | str,
    tracks: Mapping[str, MediaStreamTrack],
    *,
    video_codecs: Sequence[VideoCodec] = DEFAULT_VIDEO_CODECS,
) -> RTCPeerConnection:
    """A pc with one `sendonly` transceiver per kind of the stream type, fed by `tracks`."""
    kinds = check_publisher_tracks(stream_type, tracks)
    _check_video_codecs(video_codecs)
    pc = new_peer_connection()
    for kind in kinds:
        prefer_codecs(pc.addTransceiver(tracks[kind], direction="sendonly"), video_codecs)
    return pc


def check_publisher_tracks(
    stream_type: ConferenceStreamType | str, tracks: Mapping[str, MediaStreamTrack]
) -> tuple[MediaKind, ...]:
    """The kinds the stream type sends; ValueError unless `tracks` has exactly those."""
    kinds = media_kinds(stream_type)
    if set(tracks) != set(kinds):
        raise ValueError(
            f"stream type {stream_type} sends {' and '.join(kinds)}; tracks given for "
            f"{', '.join(sorted(tracks)) or 'nothing'}"
        )
    for kind in kinds:
        if tracks[kind].kind != kind:
            raise ValueError(f"the {kind} track given is a {tracks[kind].kind} track")
    return kinds


def create_viewer_pc(
    stream_type: ConferenceStreamType | str = ConferenceStreamType.MIC_AND_CAM,
    *,
    video_codecs: Sequence[VideoCodec] = DEFAULT_VIDEO_CODECS,
) -> RTCPeerConnection:
    """A pc with one `recvonly` transceiver per kind of the viewed stream type."""
    kinds = media_kinds(stream_type)
    _check_video_codecs(video_codecs)
    pc = new_peer_connection()
    for kind in kinds:
        prefer_codecs(pc.addTransceiver(kind, direction="recvonly"), video_codecs)
    return pc


def prefer_codecs(transceiver: RTCRtpTransceiver, video_codecs: Sequence[VideoCodec]) -> None:
    """Offer Opus for audio and the given video codecs in order, each with RTX for video.

    Offering only what is wanted keeps the negotiated codec predictable, which a router that
    forwards without transcoding needs on both the publishing and the viewing side.
    """
    _check_video_codecs(video_codecs)
    capabilities = RTCRtpSender.getCapabilities(transceiver.kind).codecs
    if transceiver.kind == "audio":
        wanted = ["audio/opus"]
    else:
        wanted = [f"video/{codec}" for codec in video_codecs] + ["video/rtx"]
    chosen = [c for mime in wanted for c in capabilities if c.mimeType.lower() == mime.lower()]
    transceiver.setCodecPreferences(chosen)


def _check_video_codecs(video_codecs: Sequence[str]) -> None:
    known = get_args(VideoCodec)
    if not video_codecs or any(codec not in known for codec in video_codecs):
        raise ValueError(
            f"video codecs must be a non-empty choice of {', '.join(known)}; "
            f"got {list(video_codecs)}"
        )
