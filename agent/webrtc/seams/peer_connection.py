"""aiortc's `RTCPeerConnection`, minus a spurious error when it is closed while connecting.

`setRemoteDescription` starts a task (`__connect`) that walks the transceivers: start ICE, then
DTLS, then the sender/receiver of each. With BUNDLE every transceiver shares one ICE transport.
If `close()` lands after ICE completed but before DTLS is up (a viewer that stops, or a stream
unpublished, right after connecting: routine under churn), the DTLS handshake of the first
transceiver fails quietly and the task goes on to the second, whose `iceTransport.start()` now
raises `InvalidStateError("RTCIceTransport is closed")`. Nobody awaits that task, so asyncio
logs "Task exception was never retrieved" at ERROR (aiortc issue #429, still so in 1.16).

The closer cannot wait for the task (aiortc keeps no handle) and must not delay its close, so
the error is handled where it is raised: in the task, and only once the connection is closed;
the same error on an open connection still propagates.
"""

from __future__ import annotations

import logging

from aiortc import RTCPeerConnection
from aiortc.exceptions import InvalidStateError

from agent.webrtc.seams.private import mangled, reaches

__all__ = ["PeerConnection"]

reaches(
    "aiortc.rtcpeerconnection.RTCPeerConnection", "class", mangled("RTCPeerConnection", "connect")
)

log = logging.getLogger(__name__)


class PeerConnection(RTCPeerConnection):
    """Use instead of `RTCPeerConnection` (agent and router alike)."""

    # aiortc calls `self.__connect()`, i.e. this name: the override wraps its connect task.
    async def _RTCPeerConnection__connect(self) -> None:
        try:
            await super()._RTCPeerConnection__connect()  # type: ignore[misc]
        except InvalidStateError:
            if self.signalingState != "closed":
                raise
            log.debug("connect task ended by close() while connecting")
