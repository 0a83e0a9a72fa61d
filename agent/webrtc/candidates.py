"""ICE candidates as they travel in the platform's `iceCandidates` lists, and their aiortc form.

The wire shape is the seed's `IceCandidate{candidate, sdpMid, sdpMLineIndex}`. As in the W3C API,
an empty `candidate` is end-of-candidates; with neither `sdpMid` nor `sdpMLineIndex` it ends the
candidates of every media section.
"""

from __future__ import annotations

from dataclasses import dataclass

from aioice import Candidate
from aiortc import RTCIceCandidate
from aiortc.rtcicetransport import candidate_from_aioice, candidate_to_aioice

_PREFIXES = ("a=candidate:", "candidate:")


@dataclass(frozen=True, slots=True)
class TrickleCandidate:
    """One trickled candidate: `candidate` is the SDP attribute value (`candidate:...`)."""

    candidate: str
    sdp_mid: str | None = None
    sdp_mline_index: int | None = None

    @property
    def is_end_of_candidates(self) -> bool:
        return not self.candidate


END_OF_CANDIDATES = TrickleCandidate(candidate="")


def trickle_from_aioice(
    candidate: Candidate, sdp_mid: str | None, sdp_mline_index: int | None
) -> TrickleCandidate:
    return TrickleCandidate(
        candidate="candidate:" + candidate.to_sdp(),
        sdp_mid=sdp_mid,
        sdp_mline_index=sdp_mline_index,
    )


def trickle_from_rtc(candidate: RTCIceCandidate) -> TrickleCandidate:
    return trickle_from_aioice(
        candidate_to_aioice(candidate), candidate.sdpMid, candidate.sdpMLineIndex
    )


def rtc_from_trickle(candidate: TrickleCandidate) -> RTCIceCandidate:
    """Parse a received candidate for `RTCPeerConnection.addIceCandidate`.

    Raises ValueError naming what is wrong, since aiortc's own parser only asserts.
    """
    if candidate.is_end_of_candidates:
        raise ValueError("end-of-candidates has no RTCIceCandidate form; use None")
    if candidate.sdp_mid is None and candidate.sdp_mline_index is None:
        raise ValueError("ICE candidate needs sdpMid or sdpMLineIndex")
    text = candidate.candidate.strip()
    for prefix in _PREFIXES:
        if text.startswith(prefix):
            text = text[len(prefix) :]
            break
    try:
        parsed = Candidate.from_sdp(text)
    except (ValueError, IndexError) as exc:
        raise ValueError(f"malformed ICE candidate {candidate.candidate!r}: {exc}") from None
    result = candidate_from_aioice(parsed)
    result.sdpMid = candidate.sdp_mid
    result.sdpMLineIndex = candidate.sdp_mline_index
    return result
