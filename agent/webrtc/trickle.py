"""Trickled ICE for one aiortc peer connection: the offer leaves at once, candidates follow.

Flow (publisher or viewer): create the pc with `new_peer_connection()`, add transceivers, then

    session = TrickleSession(pc, ice_servers, on_candidate)
    offer = await session.create_offer()      # host candidates only: no network wait
    answer = <publishStream / viewStream with offer>
    await session.apply_answer(answer)        # late candidates start reaching on_candidate
    ...                                       # remote candidates: session.add_remote_candidate
    await session.close()                     # and pc.close()

`on_candidate` gets each server-reflexive and relayed candidate as found, then one
end-of-candidates (an `IceCandidate` with an empty `candidate`). Candidates found before the answer
is applied are held until then, because the platform takes `add*IceCandidates` only after
`publishStream`/`viewStream` returned.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aioice import Candidate
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.rtcicetransport import RTCIceTransport
from aiortc.sdp import SessionDescription

from agent.api.models import IceCandidate
from agent.webrtc.candidates import (
    end_of_candidates,
    is_end_of_candidates,
    rtc_from_wire,
    wire_from_aioice,
    wire_from_rtc,
)
from agent.webrtc.gathering import gather_late_candidates
from agent.webrtc.ice_servers import IceServers
from agent.webrtc.seams.ice import connection_of

logger = logging.getLogger(__name__)

OnCandidate = Callable[[IceCandidate], Awaitable[None]]

DEFAULT_GATHER_TIMEOUT = 5.0
"""Seconds to wait for STUN and TURN answers, as long as aioice would have waited."""

_END_OF_CANDIDATES_LINE = re.compile(r"^a=end-of-candidates\r?\n", re.MULTILINE)


def strip_end_of_candidates(sdp: str) -> tuple[str, bool]:
    """Remove `a=end-of-candidates` lines; also say whether there were any."""
    stripped, count = _END_OF_CANDIDATES_LINE.subn("", sdp)
    return stripped, count > 0


@dataclass(frozen=True, slots=True)
class _Transport:
    """One ICE transport of the pc and the first media section that uses it."""

    ice: RTCIceTransport
    sdp_mid: str | None
    sdp_mline_index: int


class TrickleSession:
    """Offer fast, trickle the late local candidates, and apply the remote side's."""

    def __init__(
        self,
        pc: RTCPeerConnection,
        ice_servers: IceServers,
        on_candidate: OnCandidate,
        *,
        gather_timeout: float = DEFAULT_GATHER_TIMEOUT,
    ) -> None:
        self._pc = pc
        self._servers = ice_servers
        self._on_candidate = on_candidate
        self._gather_timeout = gather_timeout
        self._transports: list[_Transport] = []
        self._offer_candidates: list[IceCandidate] = []
        self._queue: asyncio.Queue[tuple[IceCandidate, RTCIceTransport | None]] = asyncio.Queue()
        self._answered = asyncio.Event()
        self._gathering: asyncio.Task[None] | None = None
        self._delivery: asyncio.Task[None] | None = None
        self._gathering_finished = False
        self._remote_ended = False
        self._remote_end_applied = False
        self._closed = False
        self.delivered: list[IceCandidate] = []
        """Everything passed to `on_candidate`, in order, for reports and tests."""

    @property
    def offer_candidates(self) -> list[IceCandidate]:
        """The host candidates already inside the offer: a first batch, if the peer wants one."""
        return list(self._offer_candidates)

    async def create_offer(self) -> str:
        """Set and return the local offer, with host candidates and no end-of-candidates.

        Gathering of the late candidates starts here, in the background.
        """
        if self._gathering is not None:
            raise RuntimeError("create_offer() was already called on this session")
        self._refuse_configured_servers()
        await self._pc.setLocalDescription(await self._pc.createOffer())
        sdp = self._pc.localDescription.sdp
        self._read_local_description(sdp)
        self._delivery = asyncio.create_task(self._deliver())
        self._gathering = asyncio.create_task(self._gather())
        return strip_end_of_candidates(sdp)[0]

    async def apply_answer(self, sdp: str) -> None:
        """Apply the remote answer and its candidates; release the held local candidates.

        An end-of-candidates inside the answer is applied only once local gathering is over:
        aioice declares the checks failed once the remote candidates have ended and every pair
        failed, which must not happen before a late relayed candidate had its chance
        (RFC 8838 section 8).
        """
        stripped, ended = strip_end_of_candidates(sdp)
        await self._pc.setRemoteDescription(RTCSessionDescription(sdp=stripped, type="answer"))
        self._answered.set()
        if ended:
            await self.add_remote_candidate(end_of_candidates())

    async def add_remote_candidate(self, candidate: IceCandidate) -> None:
        """Apply one candidate the remote side trickled (ValueError if it is malformed)."""
        if not is_end_of_candidates(candidate):
            await self._pc.addIceCandidate(rtc_from_wire(candidate))
            return
        self._remote_ended = True
        if self._gathering_finished:
            await self._apply_remote_end()

    @property
    def gathering_complete(self) -> bool:
        """Whether end-of-candidates has been passed to `on_candidate`."""
        return bool(self.delivered) and is_end_of_candidates(self.delivered[-1])

    async def wait_gathering_complete(self) -> None:
        """Until end-of-candidates was delivered (or the session closed without one)."""
        if self._delivery is None:
            raise RuntimeError("create_offer() was not called")
        await asyncio.wait([self._delivery])

    async def close(self) -> None:
        """Stop gathering and delivering; the caller closes the pc. Safe to call twice."""
        self._closed = True
        tasks = [t for t in (self._gathering, self._delivery) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

    # internals

    def _refuse_configured_servers(self) -> None:
        for ice in self._ice_transports():
            connection = connection_of(ice)
            if connection.stun_server is not None or connection.turn_server is not None:
                raise ValueError(
                    "the peer connection has ICE servers configured, so setLocalDescription "
                    "would wait for them: create it with new_peer_connection()"
                )

    def _ice_transports(self) -> list[RTCIceTransport]:
        transports = [t.receiver.transport.transport for t in self._pc.getTransceivers()]
        if self._pc.sctp is not None:
            transports.append(self._pc.sctp.transport.transport)
        return transports

    def _read_local_description(self, sdp: str) -> None:
        """Map each ICE transport to its media section, and collect the offer's candidates."""
        by_mid = {t.mid: t.receiver.transport.transport for t in self._pc.getTransceivers()}
        if self._pc.sctp is not None:
            by_mid[self._pc.sctp.mid] = self._pc.sctp.transport.transport
        seen: set[int] = set()
        for index, media in enumerate(SessionDescription.parse(sdp).media):
            mid = media.rtp.muxId
            for candidate in media.ice_candidates:
                candidate.sdpMid, candidate.sdpMLineIndex = mid, index
                self._offer_candidates.append(wire_from_rtc(candidate))
            ice = by_mid.get(mid)
            if ice is not None and id(ice) not in seen:
                seen.add(id(ice))
                self._transports.append(_Transport(ice, mid, index))

    async def _gather(self) -> None:
        tasks = [asyncio.create_task(self._gather_transport(t)) for t in self._transports]
        try:
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            # On close, wait for the per-transport tasks too: none may outlive the session.
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks)
        if all(t.ice.state == "closed" for t in self._transports):
            # The pc was closed under us: nobody to tell, nothing to wait for.
            self._delivery_stop()
            return
        self._queue.put_nowait((end_of_candidates(), None))
        self._gathering_finished = True
        if self._remote_ended:
            await self._apply_remote_end()

    async def _gather_transport(self, transport: _Transport) -> None:
        # BUNDLE closes the other transports on the answer; stop gathering for them then.
        task = asyncio.current_task()
        assert task is not None

        def on_state_change() -> None:
            if transport.ice.state == "closed":
                task.cancel()

        if transport.ice.state == "closed":
            return
        transport.ice.on("statechange", on_state_change)

        def emit(candidate: Candidate) -> None:
            self._queue.put_nowait(
                (
                    wire_from_aioice(candidate, transport.sdp_mid, transport.sdp_mline_index),
                    transport.ice,
                )
            )

        try:
            await gather_late_candidates(
                connection_of(transport.ice), self._servers, emit, self._gather_timeout
            )
        finally:
            if transport.ice.state != "closed":
                transport.ice.remove_listener("statechange", on_state_change)

    async def _apply_remote_end(self) -> None:
        if self._remote_end_applied or self._closed:
            return
        self._remote_end_applied = True
        await self._pc.addIceCandidate(None)

    def _delivery_stop(self) -> None:
        if self._delivery is not None:
            self._delivery.cancel()

    async def _deliver(self) -> None:
        await self._answered.wait()
        while True:
            candidate, ice = await self._queue.get()
            if ice is not None and ice.state == "closed":
                continue  # found before the answer bundled its transport away
            self.delivered.append(candidate)
            try:
                await self._on_candidate(candidate)
            except Exception:
                # One lost candidate must not stop the others; the callback's owner reports.
                logger.exception("on_candidate failed for %s", candidate)
            if is_end_of_candidates(candidate):
                return
