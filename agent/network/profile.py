"""What a participant's network does to its packets, one direction at a time, and presets.

An `Impairment` is one direction of a link (up: what the participant sends; down: what it
receives); a `NetworkProfile` is both; a schedule (`ProfileChange`) switches profiles during a
run. Values are plain SI units (seconds, bits per second, probabilities) so the scenario layer
parses its own notation ("150ms", "1.5M") and this layer never does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = [
    "IDEAL",
    "OUTAGE",
    "PRESETS",
    "Bursts",
    "Impairment",
    "NetworkProfile",
    "ProfileChange",
    "preset",
    "timeline",
]


def _probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability between 0 and 1, got {value!r}")


@dataclass(frozen=True, slots=True)
class Bursts:
    """Gilbert-Elliott loss: a two-state chain stepped once per packet.

    In the good state a packet is lost with `loss_good`, in the bad state with `loss_bad`;
    `p` is the chance to go from good to bad, `r` from bad to good, so a burst lasts 1/r
    packets on average and the long-run loss is p/(p+r)*loss_bad + r/(p+r)*loss_good."""

    p: float
    r: float
    loss_bad: float = 1.0
    loss_good: float = 0.0

    def __post_init__(self) -> None:
        for name in ("p", "r", "loss_bad", "loss_good"):
            _probability(f"bursts.{name}", getattr(self, name))
        if self.r == 0.0:
            raise ValueError("bursts.r must be > 0: with r = 0 a burst never ends")

    @property
    def mean_loss(self) -> float:
        bad = self.p / (self.p + self.r)
        return bad * self.loss_bad + (1 - bad) * self.loss_good


@dataclass(frozen=True, slots=True)
class Impairment:
    """One direction of a participant's link.

    A packet is first dropped or not (`loss`, then `bursts`), then queued behind the packets
    before it at `rate` (dropped if more than `queue` seconds are waiting: a drop-tail
    bottleneck, where congestion builds as on a real link), then delayed by `delay` plus a
    normally distributed `jitter` (its standard deviation). Without `reorder` a packet never
    overtakes the one before it (a later packet waits, as on one path); with it, jitter larger
    than the packets' spacing reorders them, as netem does."""

    delay: float = 0.0
    jitter: float = 0.0
    reorder: bool = False
    loss: float = 0.0
    bursts: Bursts | None = None
    rate: float | None = None
    queue: float = 0.2

    def __post_init__(self) -> None:
        for name in ("delay", "jitter", "queue"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")
        _probability("loss", self.loss)
        if self.rate is not None and (not math.isfinite(self.rate) or self.rate <= 0):
            raise ValueError(f"rate must be a number of bits per second > 0, got {self.rate!r}")

    @property
    def ideal(self) -> bool:
        """Nothing to do: packets pass at once (the cheap path)."""
        return (
            self.delay == 0.0
            and self.jitter == 0.0
            and self.loss == 0.0
            and self.bursts is None
            and self.rate is None
        )

    @property
    def mean_loss(self) -> float:
        """Long-run loss from `loss` and `bursts` (queue drops not counted)."""
        bursty = self.bursts.mean_loss if self.bursts is not None else 0.0
        return 1 - (1 - self.loss) * (1 - bursty)


@dataclass(frozen=True, slots=True)
class NetworkProfile:
    """Both directions of a participant's link, and the name reports show for it."""

    name: str = "ideal"
    up: Impairment = field(default_factory=Impairment)
    down: Impairment = field(default_factory=Impairment)

    @classmethod
    def both(cls, name: str, impairment: Impairment) -> NetworkProfile:
        return cls(name, impairment, impairment)

    @property
    def ideal(self) -> bool:
        return self.up.ideal and self.down.ideal


IDEAL = NetworkProfile()
OUTAGE = NetworkProfile.both("outage", Impairment(loss=1.0))
"""Nothing passes either way (a tunnel, a dropped Wi-Fi, a cable pulled)."""

_MS = 0.001
PRESETS: dict[str, NetworkProfile] = {
    profile.name: profile
    for profile in (
        IDEAL,
        # WebPageTest's connectivity profiles (connectivity.ini, also Lighthouse's "3G"):
        # 3G 1.6 Mbps down / 768 kbps up, 300 ms round trip; 4G 9 / 9 Mbps, 170 ms round
        # trip. The round trip is split evenly over the two directions; the jitter and the
        # loss are ours (WebPageTest sets none), typical of a mobile radio link.
        NetworkProfile(
            "3g",
            up=Impairment(delay=150 * _MS, jitter=10 * _MS, loss=0.01, rate=768e3),
            down=Impairment(delay=150 * _MS, jitter=10 * _MS, loss=0.01, rate=1.6e6),
        ),
        NetworkProfile(
            "4g",
            up=Impairment(delay=85 * _MS, jitter=5 * _MS, loss=0.002, rate=9e6),
            down=Impairment(delay=85 * _MS, jitter=5 * _MS, loss=0.002, rate=9e6),
        ),
        # Congested Wi-Fi: our choice (no public profile fixes one): short delay, jitter that
        # reorders, 2% random loss plus bursts of about 4 packets (p 0.5%, r 25%: ~2% more).
        NetworkProfile.both(
            "lossy-wifi",
            Impairment(
                delay=10 * _MS,
                jitter=15 * _MS,
                reorder=True,
                loss=0.02,
                bursts=Bursts(p=0.005, r=0.25),
                rate=20e6,
            ),
        ),
        # Geostationary satellite broadband (e.g. HughesNet / Viasat as published): about
        # 600 ms round trip, 25 Mbps down / 3 Mbps up, 0.5% loss.
        NetworkProfile(
            "satellite",
            up=Impairment(delay=300 * _MS, jitter=20 * _MS, loss=0.005, rate=3e6),
            down=Impairment(delay=300 * _MS, jitter=20 * _MS, loss=0.005, rate=25e6),
        ),
        OUTAGE,
    )
}
"""Named profiles a scenario's `network` may name."""


def preset(name: str) -> NetworkProfile:
    """The preset called `name`; ValueError naming the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown network profile {name!r}; known: {', '.join(PRESETS)}") from None


@dataclass(frozen=True, slots=True)
class ProfileChange:
    """At `at` seconds into the run, the link becomes `profile`; with `duration`, it goes back
    to what it was after that long (an outage, a spell of loss)."""

    at: float
    profile: NetworkProfile
    duration: float | None = None


def timeline(
    initial: NetworkProfile, changes: Iterable[ProfileChange]
) -> list[tuple[float, NetworkProfile]]:
    """The profile in force from each moment on, starting with `initial` at 0: temporary
    changes are expanded into their start and end (a later change wins over the return)."""
    ordered = sorted(changes, key=lambda change: change.at)
    points: list[tuple[float, NetworkProfile]] = [(0.0, initial)]
    returns: list[tuple[float, NetworkProfile]] = []
    current = initial
    for change in ordered:
        while returns and returns[0][0] <= change.at:
            at, back = returns.pop(0)
            points.append((at, back))
            current = back
        returns = []  # a new change overrides a pending return
        points.append((change.at, change.profile))
        if change.duration is not None:
            returns.append((change.at + change.duration, current))
        else:
            current = change.profile
    points.extend(returns)
    return points
