"""User endpoints (`/rtc-api/users/endpoints...`): register, keepalive, expiry, unregister, events.

An endpoint is live state: it exists while keepalives arrive. When it goes (unregistered or
expired) the listeners run (the conference service makes it leave every conference), so no
conference keeps a participant nobody can reach.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from agent.api.models.events import UserEndpointKeepAliveReminderEvent
from agent.api.models.registrations import (
    KeepUserEndpointAliveWebCommand,
    RegisterResult,
    RegisterUserEndpointWebCommand,
    SendEventToUserWebCommand,
    UnregisterUserEndpointWebCommand,
)
from server.auth.caller import CALLER_KEY, Caller
from server.errors import Conflict, Forbidden, NotFound
from server.events import EventDelivery, Recipient
from server.http import check_caller_id, json_response, no_content
from server.openapi import operation
from server.platform import platform_of

log = logging.getLogger(__name__)

EXPIRED_REASON = "expired"
UNREGISTERED_REASON = "unregistered"


@dataclass(slots=True)
class UserEndpoint:
    id: str
    user_id: str
    organization: str
    keep_alive_seconds: int
    reminder_on: bool
    expires_at: float
    reminder_at: float | None

    @property
    def recipient(self) -> Recipient:
        return Recipient(self.user_id, self.id)


EndpointGoneListener = Callable[[UserEndpoint, str], Awaitable[None]]
"""Called with the endpoint and the reason (`expired`, `unregistered` or the caller's reason)."""


class Registrations:
    def __init__(
        self,
        events: EventDelivery,
        *,
        grace_seconds: float,
        reminder_lead: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._events = events
        self._grace = grace_seconds
        self._reminder_lead = reminder_lead
        self._clock = clock
        self._endpoints: dict[str, UserEndpoint] = {}
        self.gone_listeners: list[EndpointGoneListener] = []

    def register(self, caller: Caller, command: RegisterUserEndpointWebCommand) -> UserEndpoint:
        """A new endpoint, or the caller's own one renewed when it names an existing id."""
        endpoint_id = check_caller_id(
            "userEndpointId", command.user_endpoint_id or str(uuid.uuid4())
        )
        existing = self._endpoints.get(endpoint_id)
        if existing is not None and (
            existing.user_id != caller.user_id or existing.organization != caller.organization
        ):
            raise Conflict(f"user endpoint {endpoint_id} is registered by another user")
        endpoint = UserEndpoint(
            id=endpoint_id,
            user_id=caller.user_id,
            organization=caller.organization,
            keep_alive_seconds=command.keep_alive_seconds,
            reminder_on=bool(command.server_keep_alive_reminder_on),
            expires_at=0.0,
            reminder_at=None,
        )
        self._renew(endpoint)
        self._endpoints[endpoint_id] = endpoint
        return endpoint

    def keepalive(self, caller: Caller, endpoint_id: str) -> None:
        self._renew(self.own(caller, endpoint_id))

    async def unregister(self, caller: Caller, endpoint_id: str, reason: str | None) -> None:
        await self._remove(self.own(caller, endpoint_id), reason or UNREGISTERED_REASON)

    def send_event(self, caller: Caller, command: SendEventToUserWebCommand) -> int:
        """Deliver a caller's event to the endpoints of one user of the same organization."""
        organization = caller.organization_for(command.organization_id)
        targets = [
            e.recipient
            for e in self._endpoints.values()
            if e.user_id == command.user_id
            and e.organization == organization
            and (command.user_endpoint_id is None or e.id == command.user_endpoint_id)
        ]
        return self._events.send(targets, command.event, qos=1 if command.qos == 1 else 0)

    def get(self, endpoint_id: str) -> UserEndpoint | None:
        return self._endpoints.get(endpoint_id)

    def endpoints_of(self, organization: str, user_id: str) -> list[UserEndpoint]:
        """The live endpoints of one user (a file transfer's event goes to all of them)."""
        return [
            e
            for e in self._endpoints.values()
            if e.user_id == user_id and e.organization == organization
        ]

    def own(self, caller: Caller, endpoint_id: str) -> UserEndpoint:
        """The caller's registered endpoint; 404 if unknown (or another organization's)."""
        endpoint = self._endpoints.get(endpoint_id)
        if endpoint is None or endpoint.organization != caller.organization:
            raise NotFound(f"user endpoint {endpoint_id} is not registered")
        if endpoint.user_id != caller.user_id:
            raise Forbidden(f"user endpoint {endpoint_id} belongs to another user")
        return endpoint

    def count(self) -> int:
        return len(self._endpoints)

    async def sweep(self) -> None:
        """Send due keepalive reminders and expire endpoints whose keepalives stopped."""
        now = self._clock()
        for endpoint in list(self._endpoints.values()):
            if endpoint.expires_at <= now:
                log.info("user endpoint %s expired", endpoint.id)
                await self._remove(endpoint, EXPIRED_REASON)
            elif endpoint.reminder_at is not None and endpoint.reminder_at <= now:
                endpoint.reminder_at = None
                self._events.send([endpoint.recipient], self._reminder(endpoint))

    async def close(self) -> None:
        for endpoint in list(self._endpoints.values()):
            await self._remove(endpoint, "server shutdown")

    def _renew(self, endpoint: UserEndpoint) -> None:
        # The grace keeps a client that sends keepalives exactly every keepAliveSeconds (the
        # minimum cadence PROTOCOL.md allows for short periods) from expiring on jitter.
        now = self._clock()
        endpoint.expires_at = now + endpoint.keep_alive_seconds + self._grace
        if endpoint.reminder_on:
            lead = endpoint.keep_alive_seconds * self._reminder_lead
            endpoint.reminder_at = now + endpoint.keep_alive_seconds - lead

    def _reminder(self, endpoint: UserEndpoint) -> dict[str, Any]:
        return UserEndpointKeepAliveReminderEvent(
            id=str(uuid.uuid4()),
            timestamp=datetime.now(UTC),
            user_id=endpoint.user_id,
            user_endpoint_id=endpoint.id,
            keep_alive_seconds=endpoint.keep_alive_seconds,
        ).to_wire()

    async def _remove(self, endpoint: UserEndpoint, reason: str) -> None:
        if self._endpoints.get(endpoint.id) is not endpoint:
            return
        del self._endpoints[endpoint.id]
        for listener in self.gone_listeners:
            try:
                await listener(endpoint, reason)
            except Exception:
                log.exception("cleaning up after user endpoint %s failed", endpoint.id)


# --- routes ---------------------------------------------------------------------------


def setup(app: web.Application) -> None:
    app.router.add_post("/rtc-api/users/endpoints", register_plain)
    app.router.add_post("/rtc-api/users/endpoints/register", register)
    app.router.add_post("/rtc-api/users/endpoints/keepalive", keepalive)
    app.router.add_post("/rtc-api/users/endpoints/unregister", unregister)
    app.router.add_post("/rtc-api/users/endpoints/sendEvent", send_event)


def _register(request: web.Request, body: RegisterUserEndpointWebCommand) -> UserEndpoint:
    return platform_of(request).registrations.register(request[CALLER_KEY], body)


@operation(
    "Register a user endpoint; answers its id as a bare JSON string",
    response=str,
    errors=(400, 409),
)
async def register_plain(
    request: web.Request, body: RegisterUserEndpointWebCommand
) -> web.Response:
    """The web flavour answers the id as a bare JSON string."""
    return web.json_response(_register(request, body).id)


@operation(
    "Register a user endpoint; answers {id}",
    response=RegisterResult,
    errors=(400, 409),
)
async def register(request: web.Request, body: RegisterUserEndpointWebCommand) -> web.Response:
    """The iOS flavour answers `{id}`."""
    return json_response(RegisterResult(id=_register(request, body).id))


@operation(
    "Keep a user endpoint registered",
    status=204,
    errors=(400, 403, 404),
)
async def keepalive(request: web.Request, body: KeepUserEndpointAliveWebCommand) -> web.Response:
    platform_of(request).registrations.keepalive(request[CALLER_KEY], body.user_endpoint_id)
    return no_content()


@operation(
    "Unregister a user endpoint (it leaves its conferences)",
    status=204,
    errors=(400, 403, 404),
)
async def unregister(request: web.Request, body: UnregisterUserEndpointWebCommand) -> web.Response:
    await platform_of(request).registrations.unregister(
        request[CALLER_KEY], body.user_endpoint_id, body.reason
    )
    return no_content()


@operation(
    "Send an event to the endpoints of a user; answers how many got it",
    response=int,
    errors=(400, 403),
)
async def send_event(request: web.Request, body: SendEventToUserWebCommand) -> web.Response:
    count = platform_of(request).registrations.send_event(request[CALLER_KEY], body)
    return web.json_response(count)
