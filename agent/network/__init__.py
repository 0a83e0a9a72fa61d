"""Network conditions per participant: impairment profiles, presets, schedules, the shaper.

`NetworkShaper(profile, schedule)` is one participant's access link; give it to a
`Participant(network=...)` (or a scenario group's `network:`) and every peer connection of
that participant sends and receives through it.

The shaper (aiortc and the socket seam) loads on first use, so the scenario language can
read profiles without the call stack (`auvious-agent validate` stays light)."""

from typing import TYPE_CHECKING, Any

from agent.network.profile import (
    IDEAL,
    OUTAGE,
    PRESETS,
    Bursts,
    Impairment,
    NetworkProfile,
    ProfileChange,
    preset,
    timeline,
)

if TYPE_CHECKING:
    from agent.network.shaper import Direction, DirectionCounters, NetworkShaper

__all__ = [
    "IDEAL",
    "OUTAGE",
    "PRESETS",
    "Bursts",
    "Direction",
    "DirectionCounters",
    "Impairment",
    "NetworkProfile",
    "NetworkShaper",
    "ProfileChange",
    "preset",
    "timeline",
]


def __getattr__(name: str) -> Any:
    if name in ("Direction", "DirectionCounters", "NetworkShaper"):
        from agent.network import shaper

        return getattr(shaper, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
