"""The Composition API (seed 003, `/composition/api`): request, follow, download, manage."""

from __future__ import annotations

import asyncio
import time

from agent.api.endpoints.base import Endpoints
from agent.api.http import Call, Response
from agent.api.models.composition import (
    CompositionIdentifier,
    CompositionMessage,
    CompositionResourceMessage,
    CompositionView,
    CreateCompositionWebCommand,
    PageCompositionView,
    ReExecuteCompositionWebCommand,
)

__all__ = ["CompositionTimeout", "Compositions"]

_BASE = "/composition/api"
_ONE = f"{_BASE}/{{conversationId}}/{{compositionId}}"
REQUEST = Call("createComposition", "POST", f"{_BASE}/request", idempotent=False)
"""Not retried after an uncertain outcome: a second request would queue a second render."""
REEXECUTE = Call("reExecuteComposition", "POST", f"{_BASE}/reexecute")
CANCEL = Call("cancelComposition", "POST", f"{_ONE}/cancel", idempotent=True)
DELETE = Call("deleteComposition", "DELETE", f"{_ONE}/delete")
MINE = Call("getCompositionsOfUser", "GET", f"{_BASE}/query/composition")
BY_CONVERSATION = Call(
    "getCompositionsByConversation", "GET", f"{_BASE}/query/conversation/{{conversationId}}"
)
URL_ATTACHMENT = Call(
    "getCompositionAttachmentUrl",
    "GET",
    f"{_BASE}/player/{{conversationId}}/{{compositionId}}/url/attachment",
)
URL_INLINE = Call(
    "getCompositionInlineUrl",
    "GET",
    f"{_BASE}/player/{{conversationId}}/{{compositionId}}/url/inline",
)
PLAYER_ATTACHMENT = Call(
    "getAttachment",
    "GET",
    f"{_BASE}/player/attachment/{{conversationId}}/{{compositionId}}/{{fileName}}",
    authenticated=False,
)
PLAYER_INLINE = Call(
    "getInline",
    "GET",
    f"{_BASE}/player/inline/{{conversationId}}/{{compositionId}}/{{fileName}}",
    authenticated=False,
)


class CompositionTimeout(TimeoutError):
    """A composition did not finish in time; `last` is what was seen last."""

    def __init__(self, message: str, last: CompositionView | None) -> None:
        super().__init__(message)
        self.last = last


class Compositions(Endpoints):
    """``client.compositions``."""

    async def request(self, command: CreateCompositionWebCommand) -> CompositionIdentifier:
        return await self._fetch(REQUEST, CompositionIdentifier, command)

    async def reexecute(self, command: ReExecuteCompositionWebCommand) -> CompositionIdentifier:
        return await self._fetch(REEXECUTE, CompositionIdentifier, command)

    async def cancel(self, conversation_id: str, composition_id: str) -> None:
        await self._send(CANCEL, path_params=_ids(conversation_id, composition_id))

    async def delete(self, conversation_id: str, composition_id: str) -> None:
        await self._send(DELETE, path_params=_ids(conversation_id, composition_id))

    async def mine(self, page: int = 0, size: int = 20) -> PageCompositionView:
        """The caller's compositions, newest first (Spring's `page`/`size`, and the seed's
        `pageNumber`/`pageSize` spelling too, so either kind of server pages)."""
        query = {"page": page, "size": size, "pageNumber": page, "pageSize": size}
        return await self._fetch(MINE, PageCompositionView, query=query)

    async def conversation(self, conversation_id: str) -> CompositionMessage:
        return await self._fetch(
            BY_CONVERSATION, CompositionMessage, path_params={"conversationId": conversation_id}
        )

    async def get(self, conversation_id: str, composition_id: str) -> CompositionView:
        """One composition, read through its conversation (the API has no single read)."""
        message = await self.conversation(conversation_id)
        for view in message.compositions or []:
            if view.id == composition_id:
                return view
        raise LookupError(f"composition {composition_id} is not in conversation {conversation_id}")

    async def url(
        self,
        conversation_id: str,
        composition_id: str,
        *,
        inline: bool = False,
        referer: str | None = None,
    ) -> CompositionResourceMessage:
        """A signed URL of the file (inline: for a `<video>` tag; else a download)."""
        return await self._fetch(
            URL_INLINE if inline else URL_ATTACHMENT,
            CompositionResourceMessage,
            path_params=_ids(conversation_id, composition_id),
            headers={"Referer": referer or self._http.base_url + "/"},
        )

    async def download(self, url: str, *, byte_range: str | None = None) -> Response:
        """The file behind a signed player URL, without a token (`byte_range` like
        `bytes=0-99` asks for part of it: status 206)."""
        call = PLAYER_INLINE if "/player/inline/" in url else PLAYER_ATTACHMENT
        headers = {"Range": byte_range} if byte_range else None
        return await self._http.request(call, url=url, headers=headers)

    async def wait_done(
        self,
        conversation_id: str,
        composition_id: str,
        *,
        time_limit: float = 300.0,
        poll: float = 0.5,
    ) -> CompositionView:
        """Poll until the composition leaves QUEUED/PREPROCESSING/PROCESSING; its last view
        (COMPLETED, FAILED or CANCELLED). Raises `CompositionTimeout` after `time_limit`."""
        deadline = time.monotonic() + time_limit
        last: CompositionView | None = None
        while True:
            last = await self.get(conversation_id, composition_id)
            if last.finished:
                return last
            if time.monotonic() >= deadline:
                raise CompositionTimeout(
                    f"composition {composition_id} still {last.state} after {time_limit:g} s", last
                )
            await asyncio.sleep(poll)


def _ids(conversation_id: str, composition_id: str) -> dict[str, str | int]:
    return {"conversationId": conversation_id, "compositionId": composition_id}
