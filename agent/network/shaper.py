"""Impairment of one participant's packets where they leave and enter its sockets (no root).

tc/netem shapes a whole interface and needs root; here each participant's ICE sockets are
wrapped (`agent.webrtc.seams.sockets.shape`), so hundreds of participants of one process each
get their own link, up and down. Every datagram counts (RTP, RTCP, STUN, DTLS), as on a real
link, so aiortc's NACK, RTX, PLI and REMB machinery sees real loss, delay and congestion.

Cost: an ideal direction hands the packet on at once; an impaired one does a few arithmetic
operations, a random draw, and a timer per batch of packets (one asyncio timer per direction
while packets wait in order; one per packet only with reordering).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiortc import RTCPeerConnection

from agent.network.profile import IDEAL, Impairment, NetworkProfile, ProfileChange, timeline
from agent.webrtc.seams import sockets

__all__ = ["Direction", "DirectionCounters", "NetworkShaper"]

log = logging.getLogger(__name__)

Deliver = Callable[[bytes, Any], None]


@dataclass(slots=True)
class DirectionCounters:
    """What one direction did to the packets it was given."""

    packets: int = 0
    bytes: int = 0
    lost: int = 0
    """Dropped by `loss`, `bursts` or an outage."""
    queue_dropped: int = 0
    """Dropped because the rate limit's queue was full."""
    delivered: int = 0

    def to_dict(self) -> dict[str, int]:
        return {
            "packets": self.packets,
            "bytes": self.bytes,
            "lost": self.lost,
            "queue_dropped": self.queue_dropped,
            "delivered": self.delivered,
        }


class Direction:
    """One direction of a link: drops, queues and delays the datagrams `submit` is given."""

    def __init__(self, impairment: Impairment, rng: random.Random) -> None:
        self.impairment = impairment
        self.counters = DirectionCounters()
        self._rng = rng
        self._bad = False
        """The Gilbert-Elliott chain's state."""
        self._free_at = 0.0
        """When the bottleneck has sent everything queued so far (loop time)."""
        self._last_at = 0.0
        self._waiting: deque[tuple[float, Deliver, bytes, Any]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def set(self, impairment: Impairment) -> None:
        """Change what happens to packets submitted from now on (those waiting keep theirs)."""
        self.impairment = impairment
        if impairment.bursts is None:
            self._bad = False

    def submit(self, deliver: Deliver, data: bytes, addr: Any) -> None:
        """Hand `data` to `deliver(data, addr)` now, later, or never."""
        counters = self.counters
        counters.packets += 1
        counters.bytes += len(data)
        impairment = self.impairment
        if impairment.ideal and not self._waiting:
            counters.delivered += 1
            deliver(data, addr)
            return
        if self._lost(impairment):
            counters.lost += 1
            return
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        now = loop.time()
        at = now
        if impairment.rate is not None:
            start = self._free_at if self._free_at > now else now
            if start - now > impairment.queue:
                counters.queue_dropped += 1
                return
            at = self._free_at = start + len(data) * 8 / impairment.rate
        at += impairment.delay
        if impairment.jitter:
            at += max(-impairment.delay, self._rng.gauss(0.0, impairment.jitter))
        if impairment.reorder:
            counters.delivered += 1
            if at <= now:
                deliver(data, addr)
            else:
                loop.call_at(at, deliver, data, addr)
            return
        if at < self._last_at:
            at = self._last_at  # in order: no overtaking the packet before
        self._last_at = at
        self._waiting.append((at, deliver, data, addr))
        if self._timer is None:
            self._timer = loop.call_at(at, self._flush)

    def _lost(self, impairment: Impairment) -> bool:
        rng = self._rng
        if impairment.loss and rng.random() < impairment.loss:
            return True
        bursts = impairment.bursts
        if bursts is None:
            return False
        if self._bad:
            if rng.random() < bursts.r:
                self._bad = False
        elif rng.random() < bursts.p:
            self._bad = True
        chance = bursts.loss_bad if self._bad else bursts.loss_good
        return chance > 0.0 and rng.random() < chance

    def _flush(self) -> None:
        self._timer = None
        assert self._loop is not None
        waiting = self._waiting
        now = self._loop.time()
        while waiting and waiting[0][0] <= now:
            _, deliver, data, addr = waiting.popleft()
            self.counters.delivered += 1
            try:
                deliver(data, addr)
            except Exception:
                log.exception("delivering a shaped packet failed")
        if waiting:
            self._timer = self._loop.call_at(waiting[0][0], self._flush)

    def close(self) -> None:
        """Forget what waits (the sockets are closing)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._waiting.clear()


class NetworkShaper:
    """One participant's network: an up and a down `Direction` shared by all its peer
    connections (one access link), switched between profiles by a schedule.

    `start(origin)` arms the schedule, its times counted from `origin` (`time.monotonic()`,
    e.g. the run's start; default now); `attach(pc)` after the pc gathered its candidates."""

    def __init__(
        self,
        profile: NetworkProfile = IDEAL,
        schedule: Iterable[ProfileChange] = (),
        *,
        seed: int | None = None,
    ) -> None:
        rng = random.Random(seed)
        self.profile = profile
        self.points = timeline(profile, schedule)
        """(seconds from the origin, profile) in force from then on: what reports mark."""
        self.up = Direction(profile.up, rng)
        self.down = Direction(profile.down, rng)
        self.changes: list[tuple[float, str]] = []
        """(monotonic time, profile name) of every change applied, the first included."""
        self._timers: list[asyncio.TimerHandle] = []
        self._started = False

    def __repr__(self) -> str:
        return f"NetworkShaper({self.profile.name!r})"

    @property
    def scheduled(self) -> bool:
        return len(self.points) > 1

    def start(self, origin: float | None = None) -> None:
        """Apply the profile in force now and arm the later changes (idempotent)."""
        if self._started:
            return
        self._started = True
        loop = asyncio.get_running_loop()
        mono_now = time.monotonic()
        origin = mono_now if origin is None else origin
        elapsed = mono_now - origin
        current = self.points[0][1]
        for at, profile in self.points:
            if at <= elapsed:
                current = profile
            else:
                self._timers.append(loop.call_later(at - elapsed, self.apply, profile))
        self.apply(current)

    def apply(self, profile: NetworkProfile) -> None:
        """Switch both directions to `profile` now."""
        self.profile = profile
        self.up.set(profile.up)
        self.down.set(profile.down)
        self.changes.append((time.monotonic(), profile.name))
        log.debug("network profile %s", profile.name)

    def attach(self, pc: RTCPeerConnection) -> int:
        """Shape every ICE socket of `pc` gathered so far and not shaped yet; the number of
        sockets shaped now. Call again when candidates come later (trickled relayed ones):
        a relayed candidate's TURN client socket (UDP) is shaped, so relayed media is too."""
        self.start()
        shaped = 0
        seen: set[int] = set()
        for transceiver in pc.getTransceivers():
            ice = transceiver.sender.transport.transport
            if id(ice) in seen:
                continue
            seen.add(id(ice))
            shaped += sockets.shape(ice, self.up.submit, self.down.submit)
        return shaped

    def counters(self) -> dict[str, Any]:
        return {
            "profile": self.profile.name,
            "up": self.up.counters.to_dict(),
            "down": self.down.counters.to_dict(),
        }

    def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        self.up.close()
        self.down.close()
