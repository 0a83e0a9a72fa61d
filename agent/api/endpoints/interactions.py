"""Interactions (seed 001: filters, pages, optimistic locking, ``organizationId``)."""

from __future__ import annotations

from agent.api.endpoints.base import Endpoints, query_of
from agent.api.http import Call
from agent.api.models.interactions import (
    CreateInteractionResponse,
    CreateInteractionWebCommand,
    Interaction,
    InteractionQuery,
    PageInteraction,
    UpdateInteractionWebCommand,
)

__all__ = ["Interactions"]

_BASE = "/rtc-api/interactions"
CREATE = Call("createInteraction", "POST", _BASE)
GET = Call("getInteraction", "GET", f"{_BASE}/{{interactionId}}")
UPDATE = Call("updateInteraction", "PUT", f"{_BASE}/{{interactionId}}")
FIND = Call("findInteractions", "GET", _BASE)


class Interactions(Endpoints):
    """``client.interactions``."""

    async def create(self, command: CreateInteractionWebCommand) -> CreateInteractionResponse:
        """SERVICE callers must set ``organization_id``; others act in their token's."""
        return await self._fetch(CREATE, CreateInteractionResponse, command)

    async def get(self, interaction_id: str) -> Interaction:
        return await self._fetch(GET, Interaction, path_params={"interactionId": interaction_id})

    async def update(self, interaction_id: str, command: UpdateInteractionWebCommand) -> None:
        """With ``version`` set, a stale version is refused with 409 (optimistic locking)."""
        await self._send(UPDATE, command, path_params={"interactionId": interaction_id})

    async def find(self, query: InteractionQuery) -> PageInteraction:
        """Interactions in a date range, filtered, one page at a time."""
        return await self._fetch(FIND, PageInteraction, query=query_of(query))
