"""Two peer connections in one process, joined on loopback: the media path without a server.

For tests and benchmarks of sources and sinks. No ICE servers, so no STUN wait (aiortc's
default would be a public STUN server), and host candidates on 127.0.0.1 only, whatever the
process chose for its other peer connections: the pair never leaves the machine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
)
from aiortc.mediastreams import MediaStreamTrack

from agent.webrtc.host_addresses import LOOPBACK, scoped_host_addresses
from media.fanout import prefer_codec
from media.passthrough import skip_decoding


def local_peer_connection() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


@dataclass
class LoopbackPair:
    publisher: RTCPeerConnection
    viewer: RTCPeerConnection
    senders: list[RTCRtpSender] = field(default_factory=list)
    receivers: list[RTCRtpReceiver] = field(default_factory=list)

    @property
    def remote_tracks(self) -> list[MediaStreamTrack]:
        """The viewer's tracks, in the order the publisher's tracks were given."""
        return [r.track for r in self.receivers]

    async def close(self) -> None:
        await self.publisher.close()
        await self.viewer.close()


async def loopback(
    tracks: list[MediaStreamTrack],
    video_codec: str | None = None,
    decode: bool = True,
    before_offer: Callable[[LoopbackPair], None] | None = None,
) -> LoopbackPair:
    """Send `tracks` from one peer connection to another; `decode=False` makes the viewer's
    receivers deliver `av.Packet`s (see `media.passthrough`); `before_offer` sees the
    publisher's senders before anything is negotiated or sent."""
    pair = LoopbackPair(local_peer_connection(), local_peer_connection())
    if not decode:
        skip_decoding(pair.viewer)
    for track in tracks:
        transceiver = pair.publisher.addTransceiver(track, direction="sendonly")
        if video_codec is not None and track.kind == "video":
            prefer_codec(transceiver, video_codec)
        pair.senders.append(transceiver.sender)
    if before_offer is not None:
        before_offer(pair)
    with scoped_host_addresses(LOOPBACK):  # both sides gather inside `setLocalDescription`
        await pair.publisher.setLocalDescription(await pair.publisher.createOffer())
        await pair.viewer.setRemoteDescription(pair.publisher.localDescription)
        await pair.viewer.setLocalDescription(await pair.viewer.createAnswer())
        await pair.publisher.setRemoteDescription(pair.viewer.localDescription)
    pair.receivers = [t.receiver for t in pair.viewer.getTransceivers()]
    return pair


async def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Poll `condition` until it holds; TimeoutError after `seconds`. For conditions that are
    counters in sinks and sources, which have no event to await."""
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 (polled state, no event exists)
            await asyncio.sleep(0.05)
