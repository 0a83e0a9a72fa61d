"""What every group of endpoints shares: the transport and the ways a command is sent."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from agent.api.http import Call, FilePart, HttpTransport, QueryValue
from agent.api.models.base import WireModel

__all__ = ["TRANSACTION_HEADER", "Endpoints", "form_fields", "new_transaction_id", "query_of"]

T = TypeVar("T")

TRANSACTION_HEADER = "X-Auvious-TransactionId"


class Endpoints:
    """A group of endpoints of one domain of the contract (``client.conferences`` ...)."""

    def __init__(self, http: HttpTransport) -> None:
        self._http = http

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._http.base_url!r})"

    async def _send(self, call: Call, command: WireModel | None = None, **kwargs: Any) -> None:
        """A call whose answer carries nothing (204)."""
        await self._http.request(call, json=_body(command), **kwargs)

    async def _fetch(
        self, call: Call, shape: type[T], command: WireModel | None = None, **kwargs: Any
    ) -> T:
        """A call answered with JSON of ``shape``."""
        return await self._http.request_as(call, shape, json=_body(command), **kwargs)

    async def _fetch_optional(
        self,
        call: Call,
        shape: type[T],
        default: T,
        command: WireModel | None = None,
        **kwargs: Any,
    ) -> T:
        """A call the contract answers with 204 *or* a body (snapshot upload): both accepted."""
        response = await self._http.request(call, json=_body(command), **kwargs)
        if response.status == 204 or not response.body.strip():
            return default
        return self._http.validate(call, shape, self._http.decode_json(call, response))

    async def _download(self, call: Call, **kwargs: Any) -> bytes:
        return (await self._http.request(call, **kwargs)).body


def _body(command: WireModel | None) -> Any:
    return command.to_wire() if command is not None else None


def form_fields(form: WireModel, **files: FilePart) -> dict[str, str | FilePart | None]:
    """A multipart body: the form model's fields by their wire names, then the files."""
    fields: dict[str, str | FilePart | None] = {
        name: _text(value) for name, value in form.to_wire().items()
    }
    fields.update(files)
    return fields


def query_of(query: WireModel) -> dict[str, QueryValue]:
    """Query parameters from a model: wire names, lists repeated, booleans as true/false."""
    return {name: _query_value(value) for name, value in query.to_wire().items()}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _query_value(value: Any) -> QueryValue:
    if isinstance(value, list):
        return [_text(v) for v in value]
    if isinstance(value, bool | int | float | str):
        return value
    return _text(value)


def new_transaction_id() -> str:
    """An ``X-Auvious-TransactionId`` value: one per logical upload, the same on every retry,
    so the platform can tell a retry from a second upload."""
    return uuid.uuid4().hex
