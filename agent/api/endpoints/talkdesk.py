"""The Talkdesk integration calls (snake_case bodies, as in the seed)."""

from __future__ import annotations

from typing import Any

from agent.api.endpoints.base import Endpoints
from agent.api.http import Call
from agent.api.models.talkdesk import (
    TalkdeskContactActivityRequest,
    TalkdeskContactActivityResponseItem,
    TalkdeskCreateTalkdeskRequest,
    TalkdeskCreateTalkdeskResponse,
)

__all__ = ["Talkdesk"]

_BASE = "/rtc-api/talkdesk-integration"
CREATE = Call("talkdeskCreateContact", "POST", f"{_BASE}/create")
VALIDATE = Call("talkdeskValidateAuthorization", "POST", f"{_BASE}/authorization-validator")
ACTIVITY = Call("talkdeskContactActivity", "POST", f"{_BASE}/activity")


class Talkdesk(Endpoints):
    """``client.talkdesk``."""

    async def create(
        self, command: TalkdeskCreateTalkdeskRequest
    ) -> TalkdeskCreateTalkdeskResponse:
        return await self._fetch(CREATE, TalkdeskCreateTalkdeskResponse, command)

    async def validate_authorization(self, body: dict[str, Any]) -> dict[str, str]:
        """The seed leaves both bodies open: any object in, a map of strings out."""
        return await self._http.request_as(VALIDATE, dict[str, str], json=body)

    async def activity(
        self, command: TalkdeskContactActivityRequest, *, host: str
    ) -> list[TalkdeskContactActivityResponseItem]:
        """A contact's activity; the contract requires a ``Host`` header naming the tenant."""
        return await self._fetch(
            ACTIVITY, list[TalkdeskContactActivityResponseItem], command, headers={"Host": host}
        )
