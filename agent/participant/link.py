"""One peer connection to the platform, signalled with trickled ICE: what a publisher and a
viewer share.

The offer leaves as soon as the host candidates exist (`TrickleSession`); the platform's
answer is applied; then the local candidates go out through `add*IceCandidates`: first the
host candidates of the offer as one batch, then each late (server-reflexive, relayed)
candidate as it is found, then end-of-candidates. Sending the host candidates again is what
the platform's own clients do (PROTOCOL.md, step 6) and is harmless: ICE ignores a candidate
it already has.

The link reports a lost connection (failed, or closed by the far end) through `lost`, and
a connection that never gets connected within the retry policy's timeout counts as lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from aiortc import RTCPeerConnection

from agent.api.models import IceCandidate
from agent.network import NetworkShaper
from agent.participant.records import describe
from agent.webrtc.candidates import is_end_of_candidates
from agent.webrtc.ice_servers import IceServers
from agent.webrtc.trickle import DEFAULT_GATHER_TIMEOUT, TrickleSession
from media.stats import StatsSample, StatsSampler

__all__ = ["IceServerSource", "LinkTimings", "MediaLink", "SendCandidates", "SendOffer"]

log = logging.getLogger(__name__)

SendOffer = Callable[[str], Awaitable[str]]
"""Send the SDP offer (publishStream / viewStream) and return the SDP answer."""
IceServerSource = Callable[[], Awaitable[IceServers]]
"""The platform's ICE servers, fetched again when their credentials are due to expire."""
SendCandidates = Callable[[list[IceCandidate]], Awaitable[None]]
"""Send local candidates (addPublishStreamIceCandidates / addViewStreamIceCandidates)."""


@dataclass(slots=True)
class LinkTimings:
    """Milliseconds from the start of the offer (the `StepRecord` details of a publish/view)."""

    request_ms: float | None = None
    """Offer created with its host candidates, and its request (publishStream / viewStream)
    leaving: what a STUN or TURN server that does not answer must never delay."""
    answer_ms: float | None = None
    """The platform's answer arrived."""
    connected_ms: float | None = None
    candidates_sent: int = 0
    candidate_calls: int = 0
    candidate_errors: list[str] = field(default_factory=list)
    end_of_candidates_ms: float | None = None


class MediaLink:
    """A peer connection, its trickle session, and the watch on its state."""

    def __init__(
        self,
        pc: RTCPeerConnection,
        ice_servers: IceServers,
        *,
        gather_timeout: float = DEFAULT_GATHER_TIMEOUT,
        network: NetworkShaper | None = None,
    ) -> None:
        self.pc = pc
        self.network = network
        """The participant's link, applied to the pc's sockets once they are gathered."""
        self.timings = LinkTimings()
        self.lost = asyncio.Event()
        """Set when the connection failed or the far end closed it (not by `close()`)."""
        self.connected = asyncio.Event()
        self.lost_reason: str | None = None
        self.sampler = StatsSampler(pc)
        self.last_sample: StatsSample | None = None
        self._session = TrickleSession(
            pc, ice_servers, self._on_candidate, gather_timeout=gather_timeout
        )
        self._send_candidates: SendCandidates | None = None
        self._first_batch_sent = asyncio.Event()
        self._started = 0.0
        self._connected_at: float | None = None
        self._closing = False
        pc.on("connectionstatechange", self._state_changed)

    def __repr__(self) -> str:
        return f"MediaLink(state={self.pc.connectionState!r})"

    @property
    def open(self) -> bool:
        return self.pc.connectionState != "closed"

    def _ms(self) -> float:
        return (time.monotonic() - self._started) * 1000

    async def negotiate(self, send_offer: SendOffer, send_candidates: SendCandidates) -> None:
        """Offer, get the answer, apply it, start trickling. Raises what `send_offer` raises."""
        self._started = time.monotonic()
        self._send_candidates = send_candidates
        offer = await self._session.create_offer()
        if self.network is not None:
            self.network.attach(self.pc)
        self.timings.request_ms = self._ms()
        answer = await send_offer(offer)
        self.timings.answer_ms = self._ms()
        await self._session.apply_answer(answer)
        try:
            first = self._session.offer_candidates
            if first:
                await self._send(first)
        finally:
            self._first_batch_sent.set()

    async def wait_connected(self, within: float) -> None:
        """Until connected; marks the link lost (and raises ConnectionError) when it is not."""
        waiter = asyncio.ensure_future(self.connected.wait())
        loser = asyncio.ensure_future(self.lost.wait())
        try:
            await asyncio.wait((waiter, loser), timeout=within, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            loser.cancel()
        if not self.connected.is_set():
            reason = self.lost_reason or f"not connected after {within:g} s"
            self._mark_lost(reason)
            raise ConnectionError(f"peer connection {reason}")

    async def sample(self) -> StatsSample | None:
        """Statistics now (bitrates over the time since the previous sample)."""
        with contextlib.suppress(Exception):  # a closed pc may no longer answer getStats
            sample = await self.sampler.sample()
            if sample.bitrate_in_bps is None and self._connected_at is not None:
                # First sample: the average since the connection came up.
                seconds = time.monotonic() - self._connected_at
                if seconds > 0:
                    sample = replace(
                        sample,
                        bitrate_in_bps=sample.bytes_received * 8 / seconds,
                        bitrate_out_bps=sample.bytes_sent * 8 / seconds,
                    )
            self.last_sample = sample
        return self.last_sample

    async def close(self) -> None:
        """Stop trickling and close the peer connection (not a loss). Safe to call twice."""
        self._closing = True
        self._first_batch_sent.set()
        await self._session.close()
        await self.sample()
        # Shielded: cancelling a waiter of aiortc's close would cancel the future that the
        # close in progress (e.g. the one aiortc starts when DTLS ends) later completes.
        await asyncio.shield(self.pc.close())

    def _state_changed(self) -> None:
        state = self.pc.connectionState
        if state == "connected" and not self.connected.is_set():
            self.timings.connected_ms = self._ms()
            self._connected_at = time.monotonic()
            self.connected.set()
        elif state in ("failed", "closed") and not self._closing:
            self._mark_lost(state if state == "failed" else "closed by the far end")

    def _mark_lost(self, reason: str) -> None:
        if not self.lost.is_set():
            self.lost_reason = reason
            self.lost.set()

    async def _on_candidate(self, candidate: IceCandidate) -> None:
        await self._first_batch_sent.wait()
        if self._closing:
            return
        if self.network is not None:
            self.network.attach(self.pc)  # a late (relayed) candidate's socket is shaped too
        await self._send([candidate])
        if is_end_of_candidates(candidate):
            self.timings.end_of_candidates_ms = self._ms()

    async def _send(self, candidates: list[IceCandidate]) -> None:
        assert self._send_candidates is not None
        self.timings.candidate_calls += 1
        try:
            await self._send_candidates(candidates)
            self.timings.candidates_sent += len(candidates)
        except Exception as exc:
            # A lost candidate costs a path, not the connection: note it and go on.
            self.timings.candidate_errors.append(describe(exc))
            log.warning("sending %d ICE candidate(s) failed: %s", len(candidates), exc)
