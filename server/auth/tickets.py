"""Tickets: short-lived codes an agent hands to a customer, who logs in with one as username.

Tickets are live state (memory): like registrations, they are meant to be used within minutes
to hours, and a restarted platform has no conferences for them to point at anyway.
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.api.models.auth import TicketRequest, TicketType
from server.auth.caller import Caller
from server.errors import BadRequest

TICKET_ALPHABET = string.ascii_letters + string.digits
DEFAULT_TICKET_LENGTH = 16
MIN_TICKET_LENGTH = 8
MAX_TICKET_LENGTH = 128
DEFAULT_TICKET_TTL = 3600
TICKET_CREATOR_ROLES = ("AGENT", "SUPERVISOR", "SERVICE", "ADMIN")


class TicketError(Exception):
    """A ticket that cannot be redeemed (the token endpoint answers invalid_grant)."""


@dataclass(frozen=True, slots=True)
class Ticket:
    id: str = field(repr=False)
    type: TicketType
    organization: str
    created_by: str
    expires_at: float
    application_id: str | None = None
    conference_id: str | None = None
    customer_id: str | None = None


class TicketService:
    def __init__(self, *, max_ttl: int, clock: Callable[[], float] = time.time):
        self._max_ttl = max_ttl
        self._clock = clock
        self._tickets: dict[str, Ticket] = {}

    def create(self, caller: Caller, request: TicketRequest) -> Ticket:
        caller.require_role(*TICKET_CREATOR_ROLES, action="creating a ticket")
        ttl = request.ttl or DEFAULT_TICKET_TTL
        if ttl > self._max_ttl:
            raise BadRequest(f"ttl: at most {self._max_ttl} seconds")
        length = request.length or DEFAULT_TICKET_LENGTH
        if not MIN_TICKET_LENGTH <= length <= MAX_TICKET_LENGTH:
            raise BadRequest(f"length: between {MIN_TICKET_LENGTH} and {MAX_TICKET_LENGTH}")
        self._purge()
        ticket_id = self._new_id(length)
        props = request.properties
        ticket = Ticket(
            id=ticket_id,
            type=request.type,
            organization=caller.organization,
            created_by=caller.user_id,
            expires_at=self._clock() + ttl,
            application_id=props.application_id if props else None,
            conference_id=props.conference_id if props else None,
            customer_id=props.customer_id if props else None,
        )
        self._tickets[ticket_id] = ticket
        return ticket

    def redeem(self, ticket_id: str) -> Ticket:
        """The ticket behind a customer login; both ticket types stay usable until they expire."""
        ticket = self._tickets.get(ticket_id)
        if ticket is None or ticket.expires_at <= self._clock():
            raise TicketError("the ticket is unknown or has expired")
        return ticket

    def _new_id(self, length: int) -> str:
        while True:
            candidate = "".join(secrets.choice(TICKET_ALPHABET) for _ in range(length))
            if candidate not in self._tickets:
                return candidate

    def _purge(self) -> None:
        now = self._clock()
        for key in [k for k, t in self._tickets.items() if t.expires_at <= now]:
            del self._tickets[key]
