"""Trickled-ICE test helpers: the answering aiortc peer, and what to wait on and check.

Used by `test_trickle.py` and `test_trickle_turn.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aioice import Connection
from aiortc import (
    MediaStreamTrack,
    RTCPeerConnection,
    RTCSessionDescription,
)

from agent.api.models import IceCandidate
from agent.webrtc.candidates import is_end_of_candidates, rtc_from_wire
from agent.webrtc.factory import new_peer_connection
from tests.waiting import wait_until as _wait_until

LIVENESS = 10.0  # seconds: generous, the machine is shared


async def wait_until(condition: Callable[[], bool], what: str, within: float = LIVENESS) -> None:
    """`tests.waiting.wait_until` with the trickle tests' shorter bound (loopback ICE only)."""
    await _wait_until(condition, what, within)


def ice_connection(pc: RTCPeerConnection, index: int = 0) -> Connection:
    """The aioice connection behind a transceiver (what the checks really use)."""
    connection: Connection = pc.getTransceivers()[index].receiver.transport.transport._connection
    return connection


def webrtc_tasks() -> list[asyncio.Task[object]]:
    """Pending tasks running code of agent/webrtc: must be none once a session is over.

    Not counted: aiortc's own connect task of a pc (wrapped by `PeerConnection`), which ends
    with that pc's ICE, e.g. the remote peer's, still open while the local side closes."""
    return [
        task
        for task in asyncio.all_tasks()
        if not task.done()
        and "agent/webrtc/"
        in getattr(code := getattr(task.get_coro(), "cr_code", None), "co_filename", "")
        and getattr(code, "co_name", "") != "_RTCPeerConnection__connect"
    ]


class RemotePeer:
    """The answering side: a plain aiortc pc, as the platform's router is."""

    def __init__(self) -> None:
        self.pc = new_peer_connection()
        self.tracks: list[MediaStreamTrack] = []
        self.pc.on("track", self.tracks.append)

    async def answer(
        self, offer: str, before_gathering: Callable[[RTCPeerConnection], None] | None = None
    ) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        if before_gathering is not None:
            before_gathering(self.pc)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return str(self.pc.localDescription.sdp)

    async def add_candidate(self, candidate: IceCandidate) -> None:
        """What the router does with a trickled candidate from `add*IceCandidates`."""
        if is_end_of_candidates(candidate):
            await self.pc.addIceCandidate(None)
        else:
            await self.pc.addIceCandidate(rtc_from_wire(candidate))


def both_connected(a: RTCPeerConnection, b: RTCPeerConnection) -> Callable[[], bool]:
    return lambda: a.connectionState == "connected" and b.connectionState == "connected"
