"""User endpoints (`/rtc-api/users/endpoints...`): register, keepalive, expiry, unregister, events.

An endpoint is live state: it exists while keepalives arrive. When it goes (unregistered or
expired) the listeners run (the conference service makes it leave every conference), so no
conference keeps a participant nobody can reach.
"""

from __future__ import annotations

import heapq
import logging
import math
import time
import uuid
from collections import Counter
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
from server.events import EventDelivery, Recipient, client_event
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
    scheduled: float | None = None
    """When its entry in the sweep's heap is due (None: no entry)."""

    def lapsing(self, now: float, grace: float) -> bool:
        """Its keepalives are late (the last stretch before expiry: one missed keepalive at
        short periods, a few seconds late at long ones): SICK in the conference views."""
        return self.expires_at - now < grace + min(2.0, self.keep_alive_seconds / 4)

    @property
    def next_due(self) -> float:
        return min(self.expires_at, self.reminder_at if self.reminder_at is not None else math.inf)

    @property
    def recipient(self) -> Recipient:
        return Recipient(self.user_id, self.id)

    @property
    def key(self) -> tuple[str, str]:
        return (self.user_id, self.id)


EndpointGoneListener = Callable[[UserEndpoint, str], Awaitable[None]]
"""Called with the endpoint and the reason (`expired`, `unregistered` or the caller's reason)."""


class Registrations:
    def __init__(
        self,
        events: EventDelivery,
        *,
        grace_seconds: float,
        reminder_lead: float,
        max_per_user: int = 1000,
        max_per_organization: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._events = events
        self._grace = grace_seconds
        self._reminder_lead = reminder_lead
        self._max_per_user = max_per_user
        self._max_per_organization = max_per_organization
        self._clock = clock
        # By (user, id): user ids are unique across organizations, so two organizations may
        # choose one endpoint id without colliding or learning of each other.
        self._endpoints: dict[tuple[str, str], UserEndpoint] = {}
        # Id -> organization -> endpoint: within an organization an id is one endpoint
        # (conferences know participants by it); the legacy topic serves only a sole holder.
        self._by_id: dict[str, dict[str, UserEndpoint]] = {}
        self._per_user: Counter[tuple[str, str]] = Counter()
        # Each customer login is a user of its own: this bounds what logins of one ticket hold.
        self._per_organization: Counter[str] = Counter()
        # (due, user, endpoint id): one live entry per endpoint, so a sweep looks only at
        # what is due.
        self._due: list[tuple[float, str, str]] = []
        self.gone_listeners: list[EndpointGoneListener] = []

    def register(self, caller: Caller, command: RegisterUserEndpointWebCommand) -> UserEndpoint:
        """A new endpoint, or the caller's own one renewed when it names an existing id."""
        endpoint_id = check_caller_id(
            "userEndpointId", command.user_endpoint_id or str(uuid.uuid4())
        )
        existing = self.find(caller.organization, endpoint_id)
        if existing is not None and existing.user_id != caller.user_id:
            raise Conflict(f"user endpoint {endpoint_id} is registered by another user")
        owner = (caller.organization, caller.user_id)
        if existing is None:
            self._check_limits(owner)
        endpoint = UserEndpoint(
            id=endpoint_id,
            user_id=caller.user_id,
            organization=caller.organization,
            keep_alive_seconds=command.keep_alive_seconds,
            reminder_on=bool(command.server_keep_alive_reminder_on),
            expires_at=0.0,
            reminder_at=None,
        )
        if existing is None:
            self._per_user[owner] += 1
            self._per_organization[caller.organization] += 1
        else:
            existing.scheduled = None  # its heap entry is stale now
        self._endpoints[endpoint.key] = endpoint
        self._by_id.setdefault(endpoint_id, {})[endpoint.organization] = endpoint
        self._renew(endpoint)
        return endpoint

    def keepalive(self, caller: Caller, endpoint_id: str) -> None:
        endpoint = self.own(caller, endpoint_id)
        if endpoint.expires_at <= self._clock():
            # Expired but not swept yet (a platform that was paused): as gone as a swept one,
            # so the client re-registers instead of living on in conferences it has left.
            raise NotFound(f"user endpoint {endpoint_id} expired: no keepalive in time")
        self._renew(endpoint)

    async def unregister(self, caller: Caller, endpoint_id: str, reason: str | None) -> None:
        await self._remove(self.own(caller, endpoint_id), reason or UNREGISTERED_REASON)

    def event_targets(
        self, caller: Caller, command: SendEventToUserWebCommand
    ) -> list[UserEndpoint]:
        """The endpoints a caller's event for one user of the organization goes to."""
        organization = caller.organization_for(command.organization_id)
        return [
            e
            for e in self._endpoints.values()
            if e.user_id == command.user_id
            and e.organization == organization
            and (command.user_endpoint_id is None or e.id == command.user_endpoint_id)
        ]

    def get(self, endpoint_id: str) -> UserEndpoint | None:
        """The endpoint of that id if exactly one organization has one (the legacy topic
        `users/endpoints/{id}` names no organization: it is served only then)."""
        holders = self._by_id.get(endpoint_id, {})
        return next(iter(holders.values())) if len(holders) == 1 else None

    def find(self, organization: str, endpoint_id: str) -> UserEndpoint | None:
        """The organization's endpoint of that id (whichever of its users registered it)."""
        return self._by_id.get(endpoint_id, {}).get(organization)

    def endpoints_of(self, organization: str, user_id: str) -> list[UserEndpoint]:
        """The live endpoints of one user (a file transfer's event goes to all of them)."""
        return [
            e
            for e in self._endpoints.values()
            if e.user_id == user_id and e.organization == organization
        ]

    def own(self, caller: Caller, endpoint_id: str) -> UserEndpoint:
        """The caller's registered endpoint; 404 if unknown (another organization's is unknown
        here: ids are per organization)."""
        endpoint = self.find(caller.organization, endpoint_id)
        if endpoint is None:
            raise NotFound(f"user endpoint {endpoint_id} is not registered")
        if endpoint.user_id != caller.user_id:
            raise Forbidden(f"user endpoint {endpoint_id} belongs to another user")
        return endpoint

    def count(self) -> int:
        return len(self._endpoints)

    def healthy(self, user_id: str, endpoint_id: str) -> bool:
        """Registered and its keepalives on time."""
        endpoint = self._endpoints.get((user_id, endpoint_id))
        return endpoint is not None and not endpoint.lapsing(self._clock(), self._grace)

    async def sweep(self) -> None:
        """Send due keepalive reminders and expire endpoints whose keepalives stopped.

        It pops only the heap entries that are due: an idle platform with many endpoints
        costs nothing per pass."""
        now = self._clock()
        while self._due and self._due[0][0] <= now:
            due, user_id, endpoint_id = heapq.heappop(self._due)
            endpoint = self._endpoints.get((user_id, endpoint_id))
            if endpoint is None or endpoint.scheduled != due:
                continue  # gone, or renewed and rescheduled since
            endpoint.scheduled = None
            if endpoint.expires_at <= now:
                log.info("user endpoint %r expired", endpoint.id)
                await self._remove(endpoint, EXPIRED_REASON)
                continue
            if endpoint.reminder_at is not None and endpoint.reminder_at <= now:
                endpoint.reminder_at = None
                self._events.send([endpoint.recipient], self._reminder(endpoint))
            self._schedule(endpoint)

    async def close(self) -> None:
        for endpoint in list(self._endpoints.values()):
            await self._remove(endpoint, "server shutdown")

    def _check_limits(self, owner: tuple[str, str]) -> None:
        """409 naming the limit a new endpoint would pass: per user, then per organization."""
        for held, limit, whose in (
            (self._per_user[owner], self._max_per_user, "this user"),
            (self._per_organization[owner[0]], self._max_per_organization, "this organization"),
        ):
            if held >= limit:
                raise Conflict(
                    f"{whose} already has {limit} registered endpoints, the limit per "
                    f"{whose.split()[1]}: unregister one first"
                )

    def _renew(self, endpoint: UserEndpoint) -> None:
        # The grace keeps a client that sends keepalives exactly every keepAliveSeconds (the
        # minimum cadence PROTOCOL.md allows for short periods) from expiring on jitter.
        now = self._clock()
        endpoint.expires_at = now + endpoint.keep_alive_seconds + self._grace
        if endpoint.reminder_on:
            lead = endpoint.keep_alive_seconds * self._reminder_lead
            endpoint.reminder_at = now + endpoint.keep_alive_seconds - lead
        self._schedule(endpoint)

    def _schedule(self, endpoint: UserEndpoint) -> None:
        """Keep one heap entry per endpoint, at or before its next due time: a renewal only
        moves times later, so it pushes nothing and the old entry reschedules when popped."""
        due = endpoint.next_due
        if endpoint.scheduled is None or due < endpoint.scheduled:
            endpoint.scheduled = due
            heapq.heappush(self._due, (due, endpoint.user_id, endpoint.id))

    def _reminder(self, endpoint: UserEndpoint) -> dict[str, Any]:
        return UserEndpointKeepAliveReminderEvent(
            id=str(uuid.uuid4()),
            timestamp=datetime.now(UTC),
            user_id=endpoint.user_id,
            user_endpoint_id=endpoint.id,
            keep_alive_seconds=endpoint.keep_alive_seconds,
        ).to_wire()

    async def _remove(self, endpoint: UserEndpoint, reason: str) -> None:
        if self._endpoints.get(endpoint.key) is not endpoint:
            return
        del self._endpoints[endpoint.key]
        holders = self._by_id[endpoint.id]
        del holders[endpoint.organization]
        if not holders:
            del self._by_id[endpoint.id]
        owner = (endpoint.organization, endpoint.user_id)
        self._per_user[owner] -= 1
        if self._per_user[owner] <= 0:
            del self._per_user[owner]
        self._per_organization[endpoint.organization] -= 1
        if self._per_organization[endpoint.organization] <= 0:
            del self._per_organization[endpoint.organization]
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
    platform, caller = platform_of(request), request[CALLER_KEY]
    event = client_event(caller, body.event)
    if body.user_endpoint_id is not None:
        platform.conferences.require_reach(caller, body.user_endpoint_id)
    targets = [
        e.recipient
        for e in platform.registrations.event_targets(caller, body)
        if platform.conferences.reaches(caller, e.id)
    ]
    count = platform.events.send(targets, event, qos=1 if body.qos == 1 else 0)
    return web.json_response(count)
