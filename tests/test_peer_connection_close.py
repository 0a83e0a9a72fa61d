"""Closing a peer connection while it connects logs nothing (`agent.webrtc.seams.peer_connection`).

Real aiortc peer connections on loopback, no stand-ins. The answering side (the router's role)
is closed while DTLS handshakes (ICE already completed): aiortc's connect task then used to die
on the second bundled transceiver with "RTCIceTransport is closed", reported by asyncio as
"Task exception was never retrieved".
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from aiortc import RTCConfiguration

from agent.webrtc.factory import create_viewer_pc
from agent.webrtc.seams.peer_connection import PeerConnection

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("close_after", [0.0, 0.0005, 0.001, 0.002, 0.003, 0.005])
async def test_close_while_dtls_connects_leaves_no_task_error(close_after: float) -> None:
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    offerer = create_viewer_pc()  # audio and video, bundled: two transceivers, one transport
    answerer = PeerConnection(RTCConfiguration(iceServers=[]))
    closing: asyncio.Future[asyncio.Task[None]] = loop.create_future()

    def close() -> None:
        closing.set_result(loop.create_task(answerer.close()))

    @answerer.on("iceconnectionstatechange")
    def close_after_ice_completes() -> None:
        # DTLS starts now and takes a few ms on loopback: the delays sweep that window.
        if answerer.iceConnectionState == "completed" and not closing.done():
            loop.call_later(close_after, close)

    try:
        await offerer.setLocalDescription(await offerer.createOffer())
        await answerer.setRemoteDescription(offerer.localDescription)
        await answerer.setLocalDescription(await answerer.createAnswer())
        await offerer.setRemoteDescription(answerer.localDescription)
        async with asyncio.timeout(20):
            await (await closing)
        await asyncio.sleep(0.3)  # aiortc's connect task has finished by now
        gc.collect()  # an unretrieved task exception is reported when the task is collected
        await asyncio.sleep(0)
    finally:
        await offerer.close()
        await answerer.close()
        loop.set_exception_handler(previous)
    assert answerer.connectionState == "closed"
    assert [str(c.get("exception") or c.get("message")) for c in errors] == []
