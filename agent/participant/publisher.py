"""Publishing one conference stream: one send-only peer connection per stream.

The tracks belong to the caller and outlive the peer connection (each connection gets a
`BorrowedTrack` proxy), so a lost connection is replaced by publishing the same tracks again,
with the same stream type, under a new stream id: the platform announces the old one
unpublished and the new one published, and viewers follow.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from agent.api.client import AuviousClient
from agent.api.models import (
    ConferencePublishStreamIceCandidatesWebCommand,
    ConferencePublishStreamWebCommand,
    ConferenceStreamType,
    ConferenceUnpublishStreamWebCommand,
    IceCandidate,
)
from agent.network import NetworkShaper
from agent.participant.link import IceServerSource, MediaLink
from agent.participant.policy import RetryPolicy
from agent.participant.records import Timeline
from agent.participant.supervised import SupervisedStream
from agent.webrtc.factory import (
    VideoCodec,
    check_publisher_tracks,
    create_publisher_pc,
    media_kinds,
)
from agent.webrtc.seams.rtp_push import push_into
from agent.webrtc.trickle import DEFAULT_GATHER_TIMEOUT
from media.audio import SyntheticAudioTrack
from media.fanout import PacketQueueTrack
from media.stats import OutboundRtp
from media.video import SyntheticVideoTrack

__all__ = ["BorrowedTrack", "Publisher", "PublisherMeasurements", "synthetic_tracks"]


@dataclass(frozen=True, slots=True)
class PublisherMeasurements:
    """One published stream, from RTCP receiver reports (RTT, loss) and sender counters."""

    stream_id: str | None
    stream_type: str
    state: str
    replacements: int
    bitrate_bps: float | None
    bytes_sent: int
    tracks: dict[str, OutboundRtp]


class BorrowedTrack(MediaStreamTrack):
    """The caller's track lent to one peer connection.

    aiortc's sender stops its track when the connection closes; the proxy is what it stops,
    so the caller's source lives on for the replacement connection."""

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self.kind = source.kind
        self.source = source

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        return await self.source.recv()


class Publisher(SupervisedStream):
    """`stream_type` (MIC, CAM, SCREEN, MIC_AND_CAM) fed by `tracks` (kind -> track)."""

    action = "publish"

    def __init__(
        self,
        api: AuviousClient,
        conference_id: str,
        endpoint_id: str,
        stream_type: ConferenceStreamType,
        tracks: Mapping[str, MediaStreamTrack],
        ice_servers: IceServerSource,
        timeline: Timeline,
        retry: RetryPolicy,
        *,
        metadata: Mapping[str, Any] | None = None,
        video_bitrate: int | None = None,
        video_codecs: tuple[VideoCodec, ...] = ("VP8",),
        gather_timeout: float = DEFAULT_GATHER_TIMEOUT,
        stream_id: str | None = None,
        network: NetworkShaper | None = None,
    ) -> None:
        super().__init__(timeline, retry)
        check_publisher_tracks(stream_type, tracks)  # now, not at the first connection
        self.api = api
        self.conference_id = conference_id
        self.endpoint_id = endpoint_id
        self.stream_type = ConferenceStreamType(stream_type)
        self.tracks = dict(tracks)
        self.ice_servers = ice_servers
        self.metadata = dict(metadata) if metadata is not None else None
        self.video_bitrate = video_bitrate
        self.video_codecs = video_codecs
        self.gather_timeout = gather_timeout
        self.network = network
        self._carried: dict[str, tuple[int, int]] = {}
        """Packets and bytes sent per kind on connections that were replaced."""
        self._bytes_carried = 0
        self.stream_id: str | None = None
        """The platform's id of the stream now published (a new one after a replacement)."""
        self.stream_ids: list[str] = []
        """Every id this publisher has published under, oldest first."""
        self._next_stream_id = stream_id

    def __repr__(self) -> str:
        return f"Publisher({self.stream_type.value}, stream_id={self.stream_id!r}, {self.state})"

    def _details(self) -> dict[str, Any]:
        return {"stream_id": self.stream_id, "stream_type": self.stream_type.value}

    async def _open(self) -> MediaLink:
        ice_servers = await self.ice_servers()
        lent = {kind: BorrowedTrack(track) for kind, track in self.tracks.items()}
        pc = create_publisher_pc(self.stream_type, lent, video_codecs=self.video_codecs)
        for sender in pc.getSenders():
            source = lent[sender.track.kind].source
            bind_sender = getattr(source, "bind_sender", None)
            if callable(bind_sender):  # e.g. a FanoutTrack: keyframe requests reach its encoder
                bind_sender(sender)
            if isinstance(source, PacketQueueTrack):  # a shared encoder's: packetized once
                push_into(sender, source)
        link = self.link = MediaLink(
            pc, ice_servers, gather_timeout=self.gather_timeout, network=self.network
        )
        stream_id = self._next_stream_id or str(uuid.uuid4())
        self._next_stream_id = None
        self.stream_id = stream_id
        self.stream_ids.append(stream_id)

        async def send_offer(offer: str) -> str:
            result = await self.api.conferences.publish_stream(
                ConferencePublishStreamWebCommand(
                    conference_id=self.conference_id,
                    user_endpoint_id=self.endpoint_id,
                    stream_id=stream_id,
                    conference_stream_type=self.stream_type,
                    sdp_offer=offer,
                    metadata=self.metadata,
                    video_bitrate=self.video_bitrate,
                )
            )
            if result.stream_id and result.stream_id != stream_id:
                self.stream_id = result.stream_id  # a platform that picks its own ids
                self.stream_ids[-1] = result.stream_id
            if not result.sdp_answer:
                raise ValueError("publishStream answered without an sdpAnswer")
            return result.sdp_answer

        async def send_candidates(candidates: list[IceCandidate]) -> None:
            await self.api.conferences.add_publish_stream_ice_candidates(
                ConferencePublishStreamIceCandidatesWebCommand(
                    conference_id=self.conference_id,
                    user_endpoint_id=self.endpoint_id,
                    stream_id=self.stream_id or stream_id,
                    ice_candidates=candidates,
                )
            )

        await link.negotiate(send_offer, send_candidates)
        return link

    def replace_track(self, kind: str, track: MediaStreamTrack) -> None:
        """Send `track` as this stream's `kind` from now on, on this connection (the sender
        switches without renegotiation) and on any replacement. The old track stays the
        caller's to stop, once the sender has left it."""
        if kind not in self.tracks or track.kind != kind:
            raise ValueError(f"this stream has no {kind} track to replace with a {track.kind}")
        self.tracks[kind] = track
        if self.link is None:
            return
        for sender in self.link.pc.getSenders():
            if sender.track is not None and sender.track.kind == kind:
                sender.replaceTrack(BorrowedTrack(track))

    async def _release(self) -> None:
        stream_id, self.stream_id = self.stream_id, None
        if stream_id is None:
            return
        await self.api.conferences.unpublish_stream(
            ConferenceUnpublishStreamWebCommand(
                conference_id=self.conference_id,
                user_endpoint_id=self.endpoint_id,
                stream_id=stream_id,
            )
        )

    def _retired(self, link: MediaLink) -> None:
        """A replaced connection's counts carry over: a stream's totals never go back."""
        sample = link.last_sample
        if sample is None:
            return
        for outbound in sample.outbound:
            packets, octets = self._carried.get(outbound.kind, (0, 0))
            self._carried[outbound.kind] = (
                packets + outbound.packets_sent,
                octets + outbound.bytes_sent,
            )
        self._bytes_carried += sample.bytes_sent

    async def measurements(self) -> PublisherMeasurements:
        sample = await self.link.sample() if self.link is not None else None
        tracks: dict[str, OutboundRtp] = {}
        for outbound in sample.outbound if sample is not None else []:
            packets, octets = self._carried.get(outbound.kind, (0, 0))
            tracks[outbound.kind] = replace(
                outbound,
                packets_sent=outbound.packets_sent + packets,
                bytes_sent=outbound.bytes_sent + octets,
            )
        bitrate = sample.bitrate_out_bps if sample is not None else None
        return PublisherMeasurements(
            stream_id=self.stream_id,
            stream_type=self.stream_type.value,
            state=self.state.value,
            replacements=self.replacements,
            bitrate_bps=bitrate,
            bytes_sent=self._bytes_carried + (sample.bytes_sent if sample is not None else 0),
            tracks=tracks,
        )


def synthetic_tracks(
    stream_type: ConferenceStreamType | str,
    *,
    width: int = 640,
    height: int = 360,
    fps: float = 30.0,
    speech: bool = True,
) -> dict[str, MediaStreamTrack]:
    """Tracks for a stream type from the synthetic sources: video with the timecode, audio
    with timing marks (1 kHz, every second), so a receiver can measure the delay, over the
    speech-like sound (unless `speech` is False), so it can score it (MOS)."""
    tracks: dict[str, MediaStreamTrack] = {}
    for kind in media_kinds(stream_type):
        if kind == "video":
            tracks[kind] = SyntheticVideoTrack(width, height, fps)
        else:
            tracks[kind] = SyntheticAudioTrack(marks=True, speech=speech)
    return tracks
