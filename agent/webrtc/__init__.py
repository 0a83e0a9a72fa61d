"""Peer connections for the agent: fast offers with trickled ICE on top of aiortc.

Importing the package changes nothing in aiortc, aioice or asyncio. The levers this layer
needs into their private state live in `agent.webrtc.seams`, installed explicitly
(`seams.install()`: the CLI, the embedded platform and a participant's start do it), version
gated, and listed in docs/library.md. The process's ICE host addresses are read from
`AUVIOUS_ICE_HOST_ADDRESSES` here and applied once the seam "host_addresses" is installed.
"""

from agent.webrtc import seams
from agent.webrtc.candidates import end_of_candidates, is_end_of_candidates
from agent.webrtc.factory import create_publisher_pc, create_viewer_pc, new_peer_connection
from agent.webrtc.host_addresses import (
    LOOPBACK,
    apply_ice_host_address_option,
    scoped_host_addresses,
    use_host_addresses,
)
from agent.webrtc.ice_servers import (
    NO_ICE_SERVERS,
    IceServers,
    ice_servers_from_v1,
    ice_servers_from_v2,
)
from agent.webrtc.seams.peer_connection import PeerConnection
from agent.webrtc.trickle import OnCandidate, TrickleSession

__all__ = [
    "LOOPBACK",
    "NO_ICE_SERVERS",
    "IceServers",
    "OnCandidate",
    "PeerConnection",
    "TrickleSession",
    "apply_ice_host_address_option",
    "create_publisher_pc",
    "create_viewer_pc",
    "end_of_candidates",
    "ice_servers_from_v1",
    "ice_servers_from_v2",
    "is_end_of_candidates",
    "new_peer_connection",
    "scoped_host_addresses",
    "seams",
    "use_host_addresses",
]
