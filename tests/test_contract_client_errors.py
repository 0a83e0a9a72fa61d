"""Every call of the client, refused by the running platform: a forged token (401), a body that
is not an object or ids nobody created (4xx), a forged signature (403). Each refusal is one
`ApiError` naming the call, the status and the platform's own message.

The table is the client's own list of calls (`Call` constants of `agent.api.endpoints`), so a
call added later is covered without editing this file.
"""

from __future__ import annotations

import re

from agent.api.auth import ClientCredentials, StaticToken
from agent.api.client import AuviousClient
from agent.api.errors import ApiError
from agent.api.http import Call
from server.embedded import EmbeddedServer
from tests.contract_support import client_calls
from tests.platform_support import CLIENTS, FORGED_TOKEN

CALLS = sorted(client_calls().values(), key=lambda c: c.operation)
ANY_ID_ACCEPTED = {"verifyStorageProvider"}
"""The local platform has no application registry: any applicationId names its one store."""


def _path_params(call: Call) -> dict[str, str | int]:
    return {
        name: 4102444800000 if name == "expiration" else f"nosuch-{name}"
        for name in re.findall(r"{(\w+)}", call.path)
    }


async def _refusal(api: AuviousClient, call: Call) -> ApiError | None:
    """The error of `call` with unknown ids (and a non-object body), None if it succeeded."""
    body: list[object] | None = [] if call.method in ("POST", "PUT") else None
    try:
        await api.http.request(
            call, path_params=_path_params(call), json=body, query={"signature": "forged"}
        )
    except ApiError as error:
        return error
    return None


def _named(error: ApiError, call: Call) -> None:
    text = str(error)
    assert call.operation in text and f"HTTP {error.status}" in text, text
    assert error.message and error.message in text, text


async def test_every_client_call_reports_a_refusal_naming_the_call_and_the_reason(
    server: EmbeddedServer,
) -> None:
    assert len(CALLS) >= 58
    refusals = 0
    async with (
        AuviousClient(server.base_url, StaticToken(FORGED_TOKEN)) as forged,
        AuviousClient(server.base_url, ClientCredentials("agent1", CLIENTS["agent1"][1])) as api,
    ):
        for call in CALLS:
            if call.authenticated:
                refused = await _refusal(forged, call)
                assert refused is not None and refused.status == 401, (call, refused)
                assert "not valid" in refused.message and FORGED_TOKEN not in str(refused)
                _named(refused, call)
            refused = await _refusal(api, call)
            if refused is None:  # a search that found nothing (ratings of an unknown id: [])
                assert call.method == "GET" or call.operation in ANY_ID_ACCEPTED, call
                continue
            assert refused.status in (400, 403, 404), refused
            _named(refused, call)
            refusals += 1
    assert refusals >= 45
