"""Viewing one conference stream: a receive-only peer connection with a client-chosen viewer id.

The media goes to the sinks the view policy chose (`TrackSinks`), which stay the same across
replacements of the peer connection. A replacement views again under a new viewer id; if the
platform answers 404, the stream was unpublished meanwhile and viewing ends.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

from agent.api.client import AuviousClient
from agent.api.models import (
    ConferenceStopViewStreamWebCommand,
    ConferenceStreamType,
    ConferenceViewStreamIceCandidatesWebCommand,
    ConferenceViewStreamWebCommand,
    IceCandidate,
)
from agent.network import NetworkShaper
from agent.participant.link import IceServerSource, MediaLink
from agent.participant.policy import RetryPolicy, ViewPolicy
from agent.participant.records import Timeline
from agent.participant.sinks import TrackMeasurements, TrackSinks
from agent.participant.supervised import SupervisedStream
from agent.webrtc.factory import create_viewer_pc, media_kinds
from agent.webrtc.trickle import DEFAULT_GATHER_TIMEOUT
from media.stats import InboundRtp, StatsSample

__all__ = ["Viewer", "ViewerMeasurements"]


@dataclass(frozen=True, slots=True)
class ViewerMeasurements:
    """One viewed stream: per kind of media, what arrived and how well."""

    stream_id: str
    stream_type: str
    publisher_endpoint_id: str | None
    viewer_id: str | None
    state: str
    replacements: int
    bitrate_bps: float | None
    """Over the time since the previous measurement (None on the first)."""
    bytes_received: int
    tracks: dict[str, TrackMeasurements]
    measured_at: float | None = None
    """`time.monotonic()` when the counters were read: measuring hundreds of viewers one after
    another takes seconds, so a window between two measurements is per stream."""


class Viewer(SupervisedStream):
    """Views `stream_id` of `conference_id` for the endpoint `endpoint_id`."""

    action = "view"

    def __init__(
        self,
        api: AuviousClient,
        conference_id: str,
        endpoint_id: str,
        stream_id: str,
        stream_type: ConferenceStreamType | str | None,
        ice_servers: IceServerSource,
        timeline: Timeline,
        retry: RetryPolicy,
        policy: ViewPolicy,
        *,
        publisher_endpoint_id: str | None = None,
        gather_timeout: float = DEFAULT_GATHER_TIMEOUT,
        network: NetworkShaper | None = None,
    ) -> None:
        super().__init__(timeline, retry)
        self.api = api
        self.conference_id = conference_id
        self.endpoint_id = endpoint_id
        self.stream_id = stream_id
        try:
            self.stream_type = ConferenceStreamType(str(stream_type))
            media_kinds(self.stream_type)
        except ValueError:
            # Unknown type: offer both kinds; the platform answers what the stream lacks inactive.
            self.stream_type = ConferenceStreamType.MIC_AND_CAM
        self.publisher_endpoint_id = publisher_endpoint_id
        self.ice_servers = ice_servers
        self.policy = policy
        self.gather_timeout = gather_timeout
        self.network = network
        self.viewer_id: str | None = None
        self.started_at = time.time()
        label = f"{stream_id}-{endpoint_id}"
        self.sinks: dict[str, TrackSinks] = {
            kind: TrackSinks(kind, policy, self.started_at, label, stream_id)
            for kind in media_kinds(self.stream_type)
        }
        self._carried: dict[str, tuple[int, int]] = {}
        self._bytes_carried = 0

    def __repr__(self) -> str:
        return f"Viewer({self.stream_id!r}, viewer_id={self.viewer_id!r}, {self.state})"

    def _details(self) -> dict[str, Any]:
        return {"stream_id": self.stream_id, "viewer_id": self.viewer_id}

    def frames(self, kind: str) -> int:
        """Frames of `kind` received so far, over every peer connection."""
        sinks = self.sinks.get(kind)
        return sinks.frames if sinks is not None else 0

    async def _open(self) -> MediaLink:
        ice_servers = await self.ice_servers()
        # Offer every codec the agent decodes: the router answers with the publisher's own.
        pc = create_viewer_pc(self.stream_type, video_codecs=("VP8", "H264"))
        for transceiver in pc.getTransceivers():
            self.sinks[transceiver.kind].prepare(transceiver.receiver)
        link = self.link = MediaLink(
            pc, ice_servers, gather_timeout=self.gather_timeout, network=self.network
        )
        viewer_id = self.viewer_id = str(uuid.uuid4())

        async def send_offer(offer: str) -> str:
            result = await self.api.conferences.view_stream(
                ConferenceViewStreamWebCommand(
                    conference_id=self.conference_id,
                    user_endpoint_id=self.endpoint_id,
                    stream_id=self.stream_id,
                    sdp_offer=offer,
                    viewer_id=viewer_id,
                )
            )
            if result.viewer_id and result.viewer_id != viewer_id:
                self.viewer_id = result.viewer_id  # a platform that picks its own ids
            if not result.sdp_answer:
                raise ValueError("viewStream answered without an sdpAnswer")
            return result.sdp_answer

        async def send_candidates(candidates: list[IceCandidate]) -> None:
            await self.api.conferences.add_view_stream_ice_candidates(
                ConferenceViewStreamIceCandidatesWebCommand(
                    conference_id=self.conference_id,
                    user_endpoint_id=self.endpoint_id,
                    stream_id=self.stream_id,
                    viewer_id=self.viewer_id or viewer_id,
                    ice_candidates=candidates,
                )
            )

        await link.negotiate(send_offer, send_candidates)
        for transceiver in pc.getTransceivers():
            track = transceiver.receiver.track
            if track is not None:
                self.sinks[transceiver.kind].attach(track)
        return link

    async def _release(self) -> None:
        viewer_id, self.viewer_id = self.viewer_id, None
        if viewer_id is None:
            return
        await self.api.conferences.stop_view_stream(
            ConferenceStopViewStreamWebCommand(
                conference_id=self.conference_id,
                user_endpoint_id=self.endpoint_id,
                stream_id=self.stream_id,
                viewer_id=viewer_id,
            )
        )

    def _retired(self, link: MediaLink) -> None:
        sample = link.last_sample
        if sample is None:
            return
        for kind, (received, lost, _) in _inbound_by_kind(sample.inbound).items():
            before = self._carried.get(kind, (0, 0))
            self._carried[kind] = (before[0] + received, before[1] + lost)
        self._bytes_carried += sample.bytes_received

    async def _finished(self) -> None:
        for sinks in self.sinks.values():
            await sinks.close()

    async def measurements(self) -> ViewerMeasurements:
        # The sinks' figures before the statistics, which take an await: a packet arriving
        # in between then counts in packets_received only, so packets >= frames holds.
        counted = {kind: sinks.measurements() for kind, sinks in self.sinks.items()}
        sample: StatsSample | None = None
        if self.link is not None:
            sample = await self.link.sample()
        current = _inbound_by_kind(sample.inbound) if sample is not None else {}
        tracks: dict[str, TrackMeasurements] = {}
        for kind, track in counted.items():
            received, lost, jitter = current.get(kind, (0, 0, None))
            carried = self._carried.get(kind, (0, 0))
            tracks[kind] = replace(
                track,
                packets_received=received + carried[0],
                packets_lost=lost + carried[1],
                jitter_s=jitter,
            )
        return ViewerMeasurements(
            stream_id=self.stream_id,
            stream_type=self.stream_type.value,
            publisher_endpoint_id=self.publisher_endpoint_id,
            viewer_id=self.viewer_id,
            state=self.state.value,
            replacements=self.replacements,
            bitrate_bps=sample.bitrate_in_bps if sample is not None else None,
            bytes_received=self._bytes_carried + (sample.bytes_received if sample else 0),
            tracks=tracks,
            measured_at=time.monotonic(),
        )


def _inbound_by_kind(inbound: list[InboundRtp]) -> dict[str, tuple[int, int, float | None]]:
    """Packets received and lost, and the worst jitter, per kind of media."""
    out: dict[str, tuple[int, int, float | None]] = {}
    for stream in inbound:
        received, lost, jitter = out.get(stream.kind, (0, 0, None))
        out[stream.kind] = (
            received + stream.packets_received,
            lost + stream.packets_lost,
            max(jitter or 0.0, stream.jitter_s),
        )
    return out
