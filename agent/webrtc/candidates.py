"""ICE candidates between aiortc/aioice and the wire's `IceCandidate{candidate, sdpMid, ...}`.

As in the W3C API, an empty `candidate` is end-of-candidates; with neither `sdpMid` nor
`sdpMLineIndex` it ends the candidates of every media section.
"""

from __future__ import annotations

from aioice import Candidate
from aiortc import RTCIceCandidate
from aiortc.rtcicetransport import candidate_from_aioice, candidate_to_aioice

from agent.api.models import IceCandidate

_PREFIXES = ("a=candidate:", "candidate:")


def end_of_candidates() -> IceCandidate:
    return IceCandidate(candidate="")


def is_end_of_candidates(candidate: IceCandidate) -> bool:
    return not candidate.candidate


def wire_from_aioice(
    candidate: Candidate, sdp_mid: str | None, sdp_mline_index: int | None
) -> IceCandidate:
    """The `candidate` field is the SDP attribute value, `candidate:...`, as browsers send it."""
    return IceCandidate(
        candidate="candidate:" + candidate.to_sdp(),
        sdp_mid=sdp_mid,
        sdp_m_line_index=sdp_mline_index,
    )


def wire_from_rtc(candidate: RTCIceCandidate) -> IceCandidate:
    return wire_from_aioice(
        candidate_to_aioice(candidate), candidate.sdpMid, candidate.sdpMLineIndex
    )


def rtc_from_wire(candidate: IceCandidate) -> RTCIceCandidate:
    """Parse a received candidate for `RTCPeerConnection.addIceCandidate`.

    Raises ValueError naming what is wrong, since aiortc's own parser only asserts.
    """
    if is_end_of_candidates(candidate):
        raise ValueError("end-of-candidates has no RTCIceCandidate form; aiortc takes None")
    if candidate.sdp_mid is None and candidate.sdp_m_line_index is None:
        raise ValueError("ICE candidate needs sdpMid or sdpMLineIndex")
    text = str(candidate.candidate).strip()
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
    result.sdpMLineIndex = candidate.sdp_m_line_index
    return result
