"""What the conference service asks of a media router.

The conference service owns ids, permissions and events; the router owns peer connections.
Keeping the seam this narrow lets the REST layer be tested without media and the router be
tested without REST.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters

    from server.media.ingress import Downstream


@dataclass(frozen=True, slots=True)
class Candidate:
    """One trickled ICE candidate as it travels in `iceCandidates`; `candidate == ""` ends them."""

    candidate: str
    sdp_mid: str | None = None
    sdp_mline_index: int | None = None

    @property
    def is_end_of_candidates(self) -> bool:
        return not self.candidate


@dataclass(frozen=True, slots=True)
class LinkReport:
    """What the RTCP receiver reports of one viewer said about its link, in seconds and as
    a fraction (None: not reported yet)."""

    jitter: float | None
    rtt: float | None
    fraction_lost: float | None


class MediaRouterError(Exception):
    """A request the router cannot honour (bad SDP, unknown stream); REST maps it to 400."""


class MediaRouter(Protocol):
    async def publish(
        self, conference_id: str, stream_id: str, sdp_offer: str, stream_type: str | None = None
    ) -> str:
        """Answer a publisher's send-only offer; the SDP answer has the server's candidates.

        With `stream_type` (MIC, CAM, SCREEN, MIC_AND_CAM) the offer's m-lines must match it.
        """
        ...

    async def add_publish_candidates(self, stream_id: str, candidates: list[Candidate]) -> None: ...

    async def view(self, stream_id: str, viewer_id: str, sdp_offer: str) -> str:
        """Answer a viewer's receive-only offer and start forwarding the stream's RTP to it."""
        ...

    async def add_view_candidates(self, viewer_id: str, candidates: list[Candidate]) -> None: ...

    async def set_publish_bitrate(self, stream_id: str, video_bitrate: int) -> None:
        """Cap what the publisher sends (bits per second)."""
        ...

    async def unpublish(self, stream_id: str) -> None:
        """Close the publisher's peer connection and every viewer of that stream."""
        ...

    async def stop_view(self, viewer_id: str) -> None: ...

    def track_codec(self, stream_id: str, kind: str) -> RTCRtpCodecParameters | None:
        """The codec of the stream's `kind` track, None if it has no such track; raises
        `MediaRouterError` for an unknown stream."""
        ...

    async def link_reports(self) -> dict[str, LinkReport]:
        """By viewer id: how each viewer's link is, from its RTCP receiver reports."""
        ...

    async def tap(self, stream_id: str, kind: str, sink: Downstream) -> None:
        """Hand `sink` every packet of the stream's `kind` track as a viewer gets them (the
        recorder's capture point), keyframe requests and repairs included."""
        ...

    def untap(self, stream_id: str, kind: str, sink: Downstream) -> None:
        """Stop handing packets to `sink`; nothing happens if the stream is gone already."""
        ...

    async def close(self) -> None:
        """Close every peer connection the router holds."""
        ...

    def peer_connection_count(self) -> int:
        """Open peer connections, for the tests that assert nothing is left behind."""
        ...

    def packets_received(self) -> dict[str, int]:
        """By published stream id: RTP packets taken in from its publisher so far (a count
        that stops growing is media that lapsed: the participant is SICK)."""
        ...
