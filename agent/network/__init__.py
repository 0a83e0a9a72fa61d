"""Network conditions per participant: impairment profiles, presets, schedules, the shaper.

`NetworkShaper(profile, schedule)` is one participant's access link; give it to a
`Participant(network=...)` (or a scenario group's `network:`) and every peer connection of
that participant sends and receives through it."""

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
