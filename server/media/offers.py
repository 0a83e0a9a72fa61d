"""Checks on an offer before any peer connection exists, so bad input fails with a clear reason."""

from __future__ import annotations

from dataclasses import dataclass

from aiortc import sdp

from server.media.contract import MediaRouterError

# What each conference stream type carries (seed 002, `conferenceStreamType`).
STREAM_TYPE_KINDS: dict[str, tuple[str, ...]] = {
    "MIC": ("audio",),
    "CAM": ("video",),
    "SCREEN": ("video",),
    "MIC_AND_CAM": ("audio", "video"),
}

_SENDING = ("sendonly", "sendrecv")
_RECEIVING = ("recvonly", "sendrecv")


@dataclass(frozen=True, slots=True)
class MediaLine:
    kind: str
    direction: str


def parse_offer(sdp_offer: str) -> list[MediaLine]:
    """The audio and video m-lines of an offer, in order; MediaRouterError if it does not parse."""
    if not isinstance(sdp_offer, str) or not sdp_offer.strip():
        raise MediaRouterError("the SDP offer is empty")
    try:
        description = sdp.SessionDescription.parse(sdp_offer)
    except Exception as exc:  # aiortc's parser raises whatever the malformed line triggers
        raise MediaRouterError(f"the SDP offer does not parse: {_reason(exc)}") from exc
    lines = [
        MediaLine(kind=m.kind, direction=m.direction or "sendrecv")
        for m in description.media
        if m.kind in ("audio", "video")
    ]
    if not lines:
        raise MediaRouterError("the SDP offer has no audio or video m-line")
    for m in description.media:
        if m.kind in ("audio", "video") and (m.dtls is None or not m.dtls.fingerprints):
            raise MediaRouterError(f"the SDP offer's {m.kind} m-line has no DTLS fingerprint")
    return lines


def check_publish_offer(lines: list[MediaLine], stream_type: str | None) -> None:
    """A publisher sends one audio and/or one video track, as its stream type says."""
    kinds = [line.kind for line in lines]
    for kind in ("audio", "video"):
        if kinds.count(kind) > 1:
            raise MediaRouterError(f"a published stream carries at most one {kind} m-line")
    for line in lines:
        if line.direction not in _SENDING:
            raise MediaRouterError(
                f"a publisher's {line.kind} m-line must be sendonly, not {line.direction}"
            )
    if stream_type is not None:
        expected = STREAM_TYPE_KINDS.get(stream_type)
        if expected is None:
            raise MediaRouterError(f"unknown stream type {stream_type!r}")
        if sorted(kinds) != sorted(expected):
            raise MediaRouterError(
                f"a {stream_type} stream offers {' and '.join(expected)}, "
                f"this offer has {' and '.join(kinds)}"
            )


def check_view_offer(lines: list[MediaLine], published_kinds: set[str], stream_id: str) -> None:
    """A viewer receives, and asks for at least one kind the stream carries."""
    for line in lines:
        if line.direction not in _RECEIVING:
            raise MediaRouterError(
                f"a viewer's {line.kind} m-line must be recvonly, not {line.direction}"
            )
    if not any(line.kind in published_kinds for line in lines):
        raise MediaRouterError(
            f"stream {stream_id} carries {' and '.join(sorted(published_kinds))}, "
            "which the viewer's offer does not ask for"
        )


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
