"""Peer connections for the agent: fast offers with trickled ICE on top of aiortc."""
