"""ICE servers for peer connections: ``/iceServers/v2`` (flat) and the older ``/iceServers``."""

from __future__ import annotations

from agent.api.endpoints.base import Endpoints
from agent.api.http import Call
from agent.api.models.ice import IceServersResult, IceServersResultV2

__all__ = ["IceServers"]

GET_V2 = Call("getIceServersV2", "GET", "/rtc-api/iceServers/v2")
GET_V1 = Call("getIceServers", "GET", "/rtc-api/iceServers")


class IceServers(Endpoints):
    """``client.ice``. The answers carry TURN credentials; their reprs hide them."""

    async def servers_v2(self) -> IceServersResultV2:
        return await self._fetch(GET_V2, IceServersResultV2)

    async def servers(self) -> IceServersResult:
        return await self._fetch(GET_V1, IceServersResult)
