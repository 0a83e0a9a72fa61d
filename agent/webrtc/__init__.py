"""Peer connections for the agent: fast offers with trickled ICE on top of aiortc.

Importing the package applies `AUVIOUS_ICE_HOST_ADDRESSES` (see `host_addresses`), makes ICE
sockets read every waiting datagram per wake-up (see `udp_reads`) and gives RTP packets a
cheaper way through aiortc (see `packet_path`)."""

import agent.webrtc.packet_path  # (installs on import)
import agent.webrtc.udp_reads  # noqa: F401  (installs on import)
from agent.webrtc.candidates import end_of_candidates, is_end_of_candidates
from agent.webrtc.factory import create_publisher_pc, create_viewer_pc, new_peer_connection
from agent.webrtc.host_addresses import scoped_host_addresses, use_host_addresses
from agent.webrtc.ice_servers import (
    NO_ICE_SERVERS,
    IceServers,
    ice_servers_from_v1,
    ice_servers_from_v2,
)
from agent.webrtc.trickle import OnCandidate, TrickleSession

__all__ = [
    "NO_ICE_SERVERS",
    "IceServers",
    "OnCandidate",
    "TrickleSession",
    "create_publisher_pc",
    "create_viewer_pc",
    "end_of_candidates",
    "ice_servers_from_v1",
    "ice_servers_from_v2",
    "is_end_of_candidates",
    "new_peer_connection",
    "scoped_host_addresses",
    "use_host_addresses",
]
