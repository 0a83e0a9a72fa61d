"""ROUTER mode: one peer connection per published stream and one per viewer, RTP forwarded as is.

The router answers offers and owns the peer connections; the RTP path is `StreamIngress`
(publisher side) feeding `ViewerEgress` (one per viewer track). aiortc's own receiver and sender
are swapped out before negotiation, so no decoder or encoder ever exists here: forwarding costs
one SRTP unprotect per packet in and one header rewrite plus SRTP protect per packet out.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from statistics import fmean

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.stats import RTCRemoteInboundRtpStreamStats

from agent.webrtc import seams
from agent.webrtc.seams import packet_path
from agent.webrtc.seams import transceiver as aiortc_seams
from agent.webrtc.seams.peer_connection import PeerConnection
from server.media.candidates import to_ice_candidates
from server.media.contract import Candidate, LinkReport, MediaRouterError
from server.media.egress import ViewerEgress
from server.media.ingress import Downstream, StreamIngress
from server.media.offers import check_publish_offer, check_view_offer, parse_offer

_CLOCK_RATES = {"audio": 48_000, "video": 90_000}
"""RTP clock rates of the router's codecs (Opus, VP8/H264)."""


@dataclass(eq=False)
class _Publication:
    conference_id: str
    pc: RTCPeerConnection
    ingress: dict[str, StreamIngress] = field(default_factory=dict)
    viewer_ids: set[str] = field(default_factory=set)


@dataclass(eq=False)
class _View:
    stream_id: str
    pc: RTCPeerConnection


class Router:
    """The local platform's media router (see `server.media.contract.MediaRouter`)."""

    def __init__(self, ice_servers: list[RTCIceServer] | None = None) -> None:
        # The router's peer connections gather host candidates where the process chose
        # (`AUVIOUS_ICE_HOST_ADDRESSES`, `use_host_addresses`), their ICE sockets read every
        # waiting datagram per wake-up and RTP takes the cheaper way through aiortc, as the
        # agent's do: the seams are installed here, not on import (SeamsUnsupported if the
        # installed aiortc/aioice are not the versions they were written for).
        self.seams = seams.install()
        # Never aiortc's default (a public STUN server): every answer would wait for it.
        self._ice_servers = list(ice_servers or [])
        self._publications: dict[str, _Publication] = {}
        self._views: dict[str, _View] = {}
        self._closed = False

    def _new_peer_connection(self) -> RTCPeerConnection:
        return PeerConnection(RTCConfiguration(iceServers=list(self._ice_servers)))

    # --- publishing --------------------------------------------------------------------------

    async def publish(
        self, conference_id: str, stream_id: str, sdp_offer: str, stream_type: str | None = None
    ) -> str:
        self._check_open()
        lines = parse_offer(sdp_offer)
        check_publish_offer(lines, stream_type)
        if stream_id in self._publications:
            raise MediaRouterError(f"stream {stream_id} is already published")

        pc = self._new_peer_connection()
        publication = _Publication(conference_id=conference_id, pc=pc)
        self._publications[stream_id] = publication
        try:
            for line in lines:
                transceiver = pc.addTransceiver(line.kind, direction="recvonly")
                ingress = StreamIngress(
                    line.kind, transceiver.receiver.transport, aiortc_seams.rtcp_ssrc(transceiver)
                )
                aiortc_seams.install_receiver(transceiver, ingress)
                packet_path.receive_directly(ingress)
                publication.ingress[line.kind] = ingress
            what = f"publish of stream {stream_id}"
            await self._apply_offer(pc, sdp_offer, what)
            for transceiver in pc.getTransceivers():
                publication.ingress[transceiver.kind].codec = aiortc_seams.keep_first_codec(
                    transceiver
                )
            return await self._answer(pc, what)
        except BaseException:
            if self._publications.get(stream_id) is publication:
                del self._publications[stream_id]
            await pc.close()
            raise

    async def add_publish_candidates(self, stream_id: str, candidates: list[Candidate]) -> None:
        await self._add_candidates(self._publication(stream_id).pc, candidates)

    async def set_publish_bitrate(self, stream_id: str, video_bitrate: int) -> None:
        publication = self._publication(stream_id)
        if isinstance(video_bitrate, bool) or not isinstance(video_bitrate, int):
            raise MediaRouterError("the bitrate must be a whole number of bits per second")
        if video_bitrate <= 0:
            raise MediaRouterError(f"the bitrate must be positive, not {video_bitrate}")
        video = publication.ingress.get("video")
        if video is not None:  # an audio-only stream has nothing to cap
            await video.set_bitrate_cap(video_bitrate)

    async def unpublish(self, stream_id: str) -> None:
        publication = self._publication(stream_id)
        del self._publications[stream_id]
        views = [self._views.pop(v) for v in list(publication.viewer_ids) if v in self._views]
        await asyncio.gather(*(view.pc.close() for view in views))
        await publication.pc.close()

    # --- viewing -----------------------------------------------------------------------------

    async def view(self, stream_id: str, viewer_id: str, sdp_offer: str) -> str:
        self._check_open()
        publication = self._publication(stream_id)
        lines = parse_offer(sdp_offer)
        check_view_offer(lines, set(publication.ingress), stream_id)
        if viewer_id in self._views:
            raise MediaRouterError(f"viewer {viewer_id} already exists")

        pc = self._new_peer_connection()
        view = _View(stream_id=stream_id, pc=pc)
        self._views[viewer_id] = view
        publication.viewer_ids.add(viewer_id)
        try:
            for line in lines:
                source = publication.ingress.get(line.kind)
                if source is None:  # the stream has no such track: answer the m-line inactive
                    pc.addTransceiver(line.kind, direction="inactive")
                    continue
                transceiver = pc.addTransceiver(line.kind, direction="sendonly")
                if source.codec is not None:
                    aiortc_seams.prefer_codec(transceiver, source.codec)
                egress = ViewerEgress(source, transceiver.sender.transport)
                aiortc_seams.install_sender(transceiver, egress)
            what = f"view of stream {stream_id} by viewer {viewer_id}"
            await self._apply_offer(pc, sdp_offer, what)
            return await self._answer(pc, what)
        except BaseException:
            if self._views.get(viewer_id) is view:
                del self._views[viewer_id]
            publication.viewer_ids.discard(viewer_id)
            await pc.close()
            raise

    async def add_view_candidates(self, viewer_id: str, candidates: list[Candidate]) -> None:
        await self._add_candidates(self._view(viewer_id).pc, candidates)

    async def stop_view(self, viewer_id: str) -> None:
        view = self._view(viewer_id)
        del self._views[viewer_id]
        publication = self._publications.get(view.stream_id)
        if publication is not None:
            publication.viewer_ids.discard(viewer_id)
        await view.pc.close()

    async def link_reports(self) -> dict[str, LinkReport]:
        """By viewer id: what the viewer's latest RTCP receiver reports said about the link
        (jitter and loss averaged over its kinds of media, the round-trip time from LSR/DLSR)."""
        reports: dict[str, LinkReport] = {}
        for viewer_id, view in list(self._views.items()):
            try:
                stats = await view.pc.getStats()
            except Exception:  # closing meanwhile: no report this time
                continue
            remote = [s for s in stats.values() if isinstance(s, RTCRemoteInboundRtpStreamStats)]
            if not remote:
                continue
            rtts = [s.roundTripTime for s in remote if s.roundTripTime is not None]
            reports[viewer_id] = LinkReport(
                # RTCP carries jitter in RTP clock units and loss in 1/256ths.
                jitter=fmean(s.jitter / _CLOCK_RATES.get(s.kind, 90_000) for s in remote),
                rtt=fmean(rtts) if rtts else None,
                fraction_lost=fmean(s.fractionLost / 256 for s in remote),
            )
        return reports

    # --- taps (the recorder) ------------------------------------------------------------------

    def track_codec(self, stream_id: str, kind: str) -> RTCRtpCodecParameters | None:
        ingress = self._publication(stream_id).ingress.get(kind)
        return ingress.codec if ingress is not None else None

    async def tap(self, stream_id: str, kind: str, sink: Downstream) -> None:
        ingress = self._publication(stream_id).ingress.get(kind)
        if ingress is None:
            raise MediaRouterError(f"stream {stream_id} has no {kind} track")
        await ingress.attach(sink)

    def untap(self, stream_id: str, kind: str, sink: Downstream) -> None:
        publication = self._publications.get(stream_id)
        if publication is not None and kind in publication.ingress:
            publication.ingress[kind].detach(sink)

    # --- whole router ------------------------------------------------------------------------

    async def close(self) -> None:
        self._closed = True
        pcs = [v.pc for v in self._views.values()] + [p.pc for p in self._publications.values()]
        self._views.clear()
        self._publications.clear()
        await asyncio.gather(*(pc.close() for pc in pcs))

    def peer_connection_count(self) -> int:
        return len(self._publications) + len(self._views)

    def packets_received(self) -> dict[str, int]:
        return {
            stream_id: sum(ingress.packets_forwarded for ingress in publication.ingress.values())
            for stream_id, publication in self._publications.items()
        }

    def stream_ids(self) -> list[str]:
        return list(self._publications)

    # --- helpers -----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise MediaRouterError("the media router is closed")

    def _publication(self, stream_id: str) -> _Publication:
        publication = self._publications.get(stream_id)
        if publication is None:
            raise MediaRouterError(f"unknown stream {stream_id}")
        return publication

    def _view(self, viewer_id: str) -> _View:
        view = self._views.get(viewer_id)
        if view is None:
            raise MediaRouterError(f"unknown viewer {viewer_id}")
        return view

    @staticmethod
    async def _apply_offer(pc: RTCPeerConnection, sdp_offer: str, what: str) -> None:
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp_offer, type="offer"))
        except Exception as exc:  # aiortc raises ValueError, OperationError, ... on bad offers
            reason = _reason(exc)
            raise MediaRouterError(f"cannot accept the offer for the {what}: {reason}") from exc

    @staticmethod
    async def _answer(pc: RTCPeerConnection, what: str) -> str:
        # aiortc gathers every candidate inside setLocalDescription; with no ICE servers that is
        # immediate, and the answer then carries all of the router's candidates.
        try:
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:
            raise MediaRouterError(f"cannot answer the {what}: {_reason(exc)}") from exc
        sdp: str = pc.localDescription.sdp
        return sdp

    @staticmethod
    async def _add_candidates(pc: RTCPeerConnection, candidates: list[Candidate]) -> None:
        for ice_candidate in to_ice_candidates(candidates, pc.getTransceivers()):
            await pc.addIceCandidate(ice_candidate)


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
