"""A run in which no media flowed at all says why and how to fix it.

The usual cause is ICE finding no path: aioice gathers host candidates on every interface
except loopback, so on a host whose only interface is loopback (a container without a network,
a CI sandbox) no peer connection ever connects; every publish waits, every view gets nothing,
and the expectations only say "nothing was measured". Each participant that was in the call
then gets an error naming the cause and the fix, so `no_errors` fails with it.
"""

from __future__ import annotations

from collections.abc import Sequence

from agent.scenario.expect import MIN_OVERLAP
from agent.scenario.model import PublishStep, Scenario
from agent.scenario.results import ErrorRecord, ParticipantResult

__all__ = ["no_media_flowed"]

STEP = "media"


def _media_expected(scenario: Scenario) -> bool:
    return any(
        group.publish or any(isinstance(step, PublishStep) for step in group.timeline or [])
        for group in scenario.participants
    )


def _carried(participant: ParticipantResult) -> bool:
    return any(stream.frames > 0 or stream.packets_received > 0 for stream in participant.streams)


def no_media_flowed(
    scenario: Scenario,
    participants: Sequence[ParticipantResult],
    now: float,
    addresses: Sequence[str] | None,
) -> bool:
    """When media was meant to flow, participants were in the call together for long enough
    (`MIN_OVERLAP` after the first join), and not one stream carried a frame or a packet:
    record the cause and the fix on each participant that joined, and return True.

    `addresses`: the local addresses ICE gathered on (None: aioice's own discovery)."""
    joined = [p for p in participants if p.joined_at is not None]
    if not _media_expected(scenario) or len(joined) < 2:
        return False
    first = min(p.joined_at for p in joined if p.joined_at is not None)
    if now - first < MIN_OVERLAP or any(_carried(p) for p in participants):
        return False
    gathered = (
        f"on {', '.join(addresses)}"
        if addresses
        else "on every interface except loopback (aioice's default)"
    )
    message = (
        "no media flowed in the whole run: not one stream carried a packet, so no peer "
        f"connection found a path (ICE gathered host candidates {gathered}). On a host whose "
        "only interface is loopback, or when every party runs on this machine, give "
        "--ice-host-address 127.0.0.1 (to `run`, and to `serve` when the platform runs "
        "apart); otherwise check that this host and the platform reach each other over UDP "
        "(firewall, TURN)"
    )
    for participant in joined:
        participant.errors.append(ErrorRecord(t=now, step=STEP, message=message))
    return True
