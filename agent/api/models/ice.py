"""ICE servers: `GET /iceServers/v2` (flat) and the older `GET /iceServers` (a list).

TURN credentials stay out of reprs and validation error text."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from agent.api.models.base import WireModel

__all__ = ["IceServer", "IceServersResult", "IceServersResultV2"]


class IceServer(WireModel):
    """Same shape as the browser's RTCIceServer."""

    model_config = ConfigDict(hide_input_in_errors=True)

    urls: list[str] | None = None
    username: str | None = None
    credential: str | None = Field(default=None, repr=False)


class IceServersResult(WireModel):
    """The older `GET /iceServers` answer; `ttl` is seconds the credentials stay valid."""

    ice_servers: list[IceServer] | None = None
    ttl: int | None = None


class IceServersResultV2(WireModel):
    """`GET /iceServers/v2`: one STUN and one TURN URL with the TURN credentials."""

    model_config = ConfigDict(hide_input_in_errors=True)

    stun: str | None = None
    turn: str | None = None
    turn_username: str | None = None
    turn_password: str | None = Field(default=None, repr=False)
    ttl: int | None = None

    def to_ice_servers(self) -> list[IceServer]:
        """The v2 answer in the list form peer connections are configured with."""
        servers: list[IceServer] = []
        if self.stun:
            servers.append(IceServer(urls=[self.stun]))
        if self.turn:
            servers.append(
                IceServer(
                    urls=[self.turn], username=self.turn_username, credential=self.turn_password
                )
            )
        return servers
