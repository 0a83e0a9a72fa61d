"""``/security/ticket``: tickets a customer logs in with (see ``TicketLogin``)."""

from __future__ import annotations

from agent.api.endpoints.base import Endpoints
from agent.api.http import Call
from agent.api.models.auth import TicketRequest, TicketResponse
from agent.redact import register_secret

__all__ = ["Security"]

CREATE_TICKET = Call("createTicket", "POST", "/security/ticket")


class Security(Endpoints):
    """``client.security``."""

    async def create_ticket(self, command: TicketRequest) -> TicketResponse:
        """A ticket id is a login credential: it is registered for redaction at once."""
        ticket = await self._fetch(CREATE_TICKET, TicketResponse, command)
        register_secret(ticket.id)
        return ticket
