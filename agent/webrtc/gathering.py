"""Late ICE candidates: server-reflexive and relayed ones, found after the offer has left.

aiortc gathers inside `setLocalDescription` and waits there for STUN and TURN answers. The agent
gives aiortc no ICE servers, so that call only binds host sockets, and gathers the rest here with
aioice's own functions, adding each candidate to the live aioice `Connection` so that the
connectivity checks use it (aioice's internals are reached in `agent.webrtc.seams.ice`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Awaitable, Callable

from aioice import Candidate, Connection
from aioice.ice import StunProtocol, relayed_candidate, server_reflexive_candidate

from agent.webrtc.ice_servers import IceServers, StunServer, TurnServer
from agent.webrtc.seams.ice import add_local_candidate, components, protocols, relay_only

logger = logging.getLogger(__name__)

EmitCandidate = Callable[[Candidate], None]


async def gather_late_candidates(
    connection: Connection, servers: IceServers, emit: EmitCandidate, max_wait: float
) -> None:
    """Find the server-reflexive and relayed candidates of every component of `connection`.

    Each candidate is added to the connection and passed to `emit` as soon as it is found.
    Returns once every query has answered or failed, or after `max_wait` seconds: a server that
    never answers costs at most that, and only here, never in the offer.
    """
    jobs: list[Awaitable[None]] = []
    for protocol in protocols(connection):
        base = protocol.local_candidate
        # Like aioice: STUN is asked over IPv4 host sockets only.
        if servers.stun and base.type == "host" and _is_ipv4(base.host):
            jobs.append(_server_reflexive(connection, protocol, servers.stun, emit))
    if servers.turn:
        for component in components(connection):
            jobs.append(_relayed(connection, component, servers.turn, emit))
    if not jobs:
        return
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        await asyncio.wait(tasks, timeout=max_wait)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _server_reflexive(
    connection: Connection, protocol: StunProtocol, stun: StunServer, emit: EmitCandidate
) -> None:
    # The binding goes out of the host socket itself, so the mapped address leads back to it
    # and the host protocol answers the checks sent to the server-reflexive candidate.
    try:
        candidate, _ = await server_reflexive_candidate(protocol, (stun.host, stun.port))
    except Exception as exc:
        logger.info("%s: STUN %s:%d gave no candidate: %r", connection, stun.host, stun.port, exc)
        return
    if add_local_candidate(connection, candidate, protocol=None):
        emit(candidate)


async def _relayed(
    connection: Connection, component: int, turn: TurnServer, emit: EmitCandidate
) -> None:
    try:
        candidate, protocol = await relayed_candidate(
            component=component,
            hide_related_address=relay_only(connection),
            protocol_factory=lambda: StunProtocol(connection),
            turn_server=(turn.host, turn.port),
            turn_username=turn.username,
            turn_password=turn.password,
            turn_ssl=turn.secure,
            turn_transport=turn.transport,
        )
    except Exception as exc:
        # aioice's errors carry the server's error code, never the credentials.
        logger.info("%s: TURN %s:%d gave no candidate: %r", connection, turn.host, turn.port, exc)
        return
    if add_local_candidate(connection, candidate, protocol=protocol):
        emit(candidate)
    else:
        # The connection closed while the allocation was made: give the allocation back.
        await asyncio.shield(protocol.close())


def _is_ipv4(host: str) -> bool:
    return ipaddress.ip_address(host).version == 4
