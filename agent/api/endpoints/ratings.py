"""Ratings (seed 000: feedback items and the rater's role)."""

from __future__ import annotations

from agent.api.endpoints.base import Endpoints
from agent.api.http import Call
from agent.api.models.ratings import CreateRatingWebCommand, CreatingRatingWebResponse, Rating

__all__ = ["Ratings"]

_BASE = "/rtc-api/ratings"
CREATE = Call("createRating", "POST", _BASE)
BY_INTERACTION = Call(
    "findRatingsByInteractionId", "GET", f"{_BASE}/interactions/{{interactionId}}"
)
BY_CONFERENCE = Call("findRatingsByConferenceId", "GET", f"{_BASE}/conferences/{{conferenceId}}")


class Ratings(Endpoints):
    """``client.ratings``."""

    async def create(self, command: CreateRatingWebCommand) -> CreatingRatingWebResponse:
        return await self._fetch(CREATE, CreatingRatingWebResponse, command)

    async def find_by_interaction(self, interaction_id: str) -> list[Rating]:
        return await self._fetch(
            BY_INTERACTION, list[Rating], path_params={"interactionId": interaction_id}
        )

    async def find_by_conference(self, conference_id: str) -> list[Rating]:
        return await self._fetch(
            BY_CONFERENCE, list[Rating], path_params={"conferenceId": conference_id}
        )
