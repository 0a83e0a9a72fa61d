"""A SERVICE caller through the client (PROTOCOL.md: SERVICE callers give `organizationId`):
it lists the active conferences of the organization it names, and by default its own."""

from __future__ import annotations

from agent.api.auth import ClientCredentials
from agent.api.client import AuviousClient
from agent.api.models.conferences import CreateConferenceWebCommand
from server.embedded import EmbeddedServer

CLIENTS = [
    "svc:svc-secret-value:SERVICE:org-a",
    "agent-b:agent-b-secret:AGENT:org-b",
]


async def test_a_service_lists_the_active_conferences_of_the_organization_it_names() -> None:
    async with (
        EmbeddedServer(CLIENTS) as srv,
        AuviousClient(srv.base_url, ClientCredentials("svc", "svc-secret-value")) as service,
        AuviousClient(srv.base_url, ClientCredentials("agent-b", "agent-b-secret")) as agent,
    ):
        theirs = (await agent.conferences.create(CreateConferenceWebCommand())).id
        mine = (await service.conferences.create(CreateConferenceWebCommand())).id
        assert theirs and mine
        assert [c.id for c in await service.conferences.active("org-b")] == [theirs]
        assert [c.id for c in await service.conferences.active()] == [mine]
        # Anyone else acts in the organization of its token, whatever it names.
        assert [c.id for c in await agent.conferences.active("org-a")] == [theirs]
