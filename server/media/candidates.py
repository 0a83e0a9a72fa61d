"""Trickled ICE candidates, from the REST wire form to what aiortc's `addIceCandidate` takes."""

from __future__ import annotations

from aiortc import RTCIceCandidate, RTCRtpTransceiver
from aiortc.sdp import candidate_from_sdp

from agent.webrtc.seams import transceiver as aiortc_seams
from server.media.contract import Candidate, MediaRouterError


def to_ice_candidates(
    candidates: list[Candidate], transceivers: list[RTCRtpTransceiver]
) -> list[RTCIceCandidate | None]:
    """Parse every candidate first, so a bad one rejects the batch before any is applied.

    `None` stands for end-of-candidates. A candidate that names no m-line, or names one that rides
    a bundle, goes to the bundle's transport: aiortc silently drops candidates for bundled m-lines.
    """
    primary = next((t for t in transceivers if not aiortc_seams.is_bundled(t)), None)
    parsed: list[RTCIceCandidate | None] = []
    for candidate in candidates:
        if candidate.is_end_of_candidates:
            parsed.append(None)
            continue
        ice = _parse(candidate.candidate)
        target = _transceiver_for(candidate, transceivers)
        if target is None or aiortc_seams.is_bundled(target):
            target = primary
        if target is None:
            raise MediaRouterError("no m-line to apply the candidate to")
        ice.sdpMid = target.mid
        ice.sdpMLineIndex = None
        parsed.append(ice)
    return parsed


def _parse(line: str) -> RTCIceCandidate:
    text = line.strip()
    if text.startswith("a="):
        text = text[2:]
    if text.startswith("candidate:"):
        text = text[len("candidate:") :]
    try:
        return candidate_from_sdp(text)
    except (AssertionError, ValueError, IndexError) as exc:
        raise MediaRouterError(f"malformed ICE candidate {line!r}") from exc


def _transceiver_for(
    candidate: Candidate, transceivers: list[RTCRtpTransceiver]
) -> RTCRtpTransceiver | None:
    for transceiver in transceivers:
        if candidate.sdp_mid is not None and transceiver.mid == candidate.sdp_mid:
            return transceiver
    for transceiver in transceivers:
        index = aiortc_seams.mline_index(transceiver)
        if candidate.sdp_mline_index is not None and index == candidate.sdp_mline_index:
            return transceiver
    return None
