"""User endpoints: register (both variants), keepalive, unregister, sendEvent."""

from __future__ import annotations

from agent.api.endpoints.base import Endpoints
from agent.api.http import Call
from agent.api.models.registrations import (
    KeepUserEndpointAliveWebCommand,
    RegisterResult,
    RegisterUserEndpointWebCommand,
    SendEventToUserWebCommand,
    UnregisterUserEndpointWebCommand,
)

__all__ = ["Registrations"]

_BASE = "/rtc-api/users/endpoints"
REGISTER = Call("registerUserEndpoint", "POST", _BASE)
REGISTER_IOS = Call("registerUserEndpointIos", "POST", f"{_BASE}/register")
# Keepalive only pushes the expiry forward: repeating it is harmless, so it is retried.
KEEPALIVE = Call("keepUserEndpointAlive", "POST", f"{_BASE}/keepalive", idempotent=True)
UNREGISTER = Call("unregisterUserEndpoint", "POST", f"{_BASE}/unregister")
SEND_EVENT = Call("sendEventToUser", "POST", f"{_BASE}/sendEvent")


class Registrations(Endpoints):
    """``client.registrations``: the life of a user endpoint."""

    async def register(self, command: RegisterUserEndpointWebCommand) -> str:
        """``POST /users/endpoints``: the new endpoint's id, answered as a bare JSON string."""
        return await self._fetch(REGISTER, str, command)

    async def register_ios(self, command: RegisterUserEndpointWebCommand) -> RegisterResult:
        """``POST /users/endpoints/register``: the same, answered as ``{id}``."""
        return await self._fetch(REGISTER_IOS, RegisterResult, command)

    async def keepalive(self, command: KeepUserEndpointAliveWebCommand) -> None:
        await self._send(KEEPALIVE, command)

    async def unregister(self, command: UnregisterUserEndpointWebCommand) -> None:
        await self._send(UNREGISTER, command)

    async def send_event(self, command: SendEventToUserWebCommand) -> int:
        """Deliver an event to a user's endpoints; answers how many messages were sent."""
        return await self._fetch(SEND_EVENT, int, command)
