"""Tickets: short-lived codes an agent hands to a customer, who logs in with one as username.

Tickets are records (SQLite), not live state: one sent to a customer by mail or chat must still
work after the platform restarts. The store keys them by a SHA-256 of the code, so the
database never holds a usable ticket.
"""

from __future__ import annotations

import hashlib
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.api.models.auth import TicketRequest, TicketType
from server.auth.caller import Caller
from server.errors import BadRequest
from server.storage.records import Condition, Query, RecordStore

TICKET_ALPHABET = string.ascii_letters + string.digits
DEFAULT_TICKET_LENGTH = 16
MIN_TICKET_LENGTH = 8
MAX_TICKET_LENGTH = 128
DEFAULT_TICKET_TTL = 3600
TICKET_CREATOR_ROLES = ("AGENT", "SUPERVISOR", "SERVICE", "ADMIN")
TICKET = "ticket"
"""The record kind of tickets in the record store."""


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
    def __init__(
        self, records: RecordStore, *, max_ttl: int, clock: Callable[[], float] = time.time
    ):
        self._records = records
        self._max_ttl = max_ttl
        self._clock = clock

    def __repr__(self) -> str:
        return f"TicketService(max_ttl={self._max_ttl})"

    def create(self, caller: Caller, request: TicketRequest) -> Ticket:
        caller.require_role(*TICKET_CREATOR_ROLES, action="creating a ticket")
        ttl = request.ttl or DEFAULT_TICKET_TTL
        if ttl > self._max_ttl:
            raise BadRequest(f"ttl: at most {self._max_ttl} seconds")
        length = request.length or DEFAULT_TICKET_LENGTH
        if not MIN_TICKET_LENGTH <= length <= MAX_TICKET_LENGTH:
            raise BadRequest(f"length: between {MIN_TICKET_LENGTH} and {MAX_TICKET_LENGTH}")
        self._purge()
        props = request.properties
        now = self._clock()
        ticket = Ticket(
            id=self._new_id(length),
            type=request.type,
            organization=caller.organization,
            created_by=caller.user_id,
            expires_at=now + ttl,
            application_id=props.application_id if props else None,
            conference_id=props.conference_id if props else None,
            customer_id=props.customer_id if props else None,
        )
        self._records.insert(
            TICKET, _key(ticket.id), ticket.organization, int(now * 1000), _body(ticket)
        )
        return ticket

    def redeem(self, ticket_id: str) -> Ticket:
        """The ticket behind a customer login; both ticket types stay usable until they expire."""
        stored = self._records.get(TICKET, _key(ticket_id)) if ticket_id else None
        if stored is None or stored.body["expiresAt"] <= self._clock():
            raise TicketError("the ticket is unknown or has expired")
        body = stored.body
        return Ticket(
            id=ticket_id,
            type=TicketType(body["type"]),
            organization=stored.organization_id,
            created_by=body["createdBy"],
            expires_at=body["expiresAt"],
            application_id=body.get("applicationId"),
            conference_id=body.get("conferenceId"),
            customer_id=body.get("customerId"),
        )

    def _new_id(self, length: int) -> str:
        while True:
            candidate = "".join(secrets.choice(TICKET_ALPHABET) for _ in range(length))
            if self._records.get(TICKET, _key(candidate)) is None:
                return candidate

    def _purge(self) -> None:
        expired = Query(conditions=[Condition("$.expiresAt", "<=", self._clock())])
        with self._records.transaction():
            for record in self._records.find(TICKET, expired):
                self._records.delete(TICKET, record.id)


def _key(ticket_id: str) -> str:
    return hashlib.sha256(ticket_id.encode()).hexdigest()


def _body(ticket: Ticket) -> dict[str, Any]:
    return {
        "type": ticket.type.value,
        "createdBy": ticket.created_by,
        "expiresAt": ticket.expires_at,
        "applicationId": ticket.application_id,
        "conferenceId": ticket.conference_id,
        "customerId": ticket.customer_id,
    }
