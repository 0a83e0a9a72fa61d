"""Where a run happens: the embedded local platform or a remote one, and the run's own
service login on it (conferences, tickets, events sent to a conference).

This is the one module of `agent/` that starts `server/` (the embedded platform); the
participants only ever see its base URL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from pydantic import SecretStr

from agent.api.auth import ClientCredentials, TicketLogin, TokenProvider
from agent.api.client import AuviousClient
from agent.api.errors import ApiError
from agent.api.models import CreateConferenceWebCommand
from agent.api.models.auth import TicketProperties, TicketRequest, TicketType
from agent.redact import register_secret

__all__ = ["Login", "LoginFailed", "RunPlatform", "open_platform"]

TICKET_TTL = 24 * 3600


class LoginFailed(Exception):
    """The run's own login was refused, or the platform did not answer it."""


@dataclass(frozen=True)
class Login:
    """Client credentials; the secret stays a `SecretStr` until a token provider needs it."""

    client_id: str
    client_secret: SecretStr

    def provider(self) -> ClientCredentials:
        return ClientCredentials(self.client_id, self.client_secret.get_secret_value())


class RunPlatform:
    """The platform of one run, seen through the run's service login (`admin`).

    Conferences are named in the scenario (`conference: call-${arrival}`); the first
    participant that needs a name gets it created, the others share it."""

    def __init__(
        self,
        base_url: str,
        login: Login,
        organization_id: str | None = None,
        peer_connection_count: Callable[[], int] | None = None,
    ) -> None:
        self.base_url = base_url
        self.login = login
        self.organization_id = organization_id
        self.admin = AuviousClient(base_url, login.provider())
        self.peer_connection_count = peer_connection_count
        """The platform's open peer connections (embedded only: None for a remote one)."""
        self._conferences: dict[str, asyncio.Future[str]] = {}

    def __repr__(self) -> str:
        return f"RunPlatform({self.base_url!r}, client_id={self.login.client_id!r})"

    async def conference(self, name: str) -> str:
        """The platform's id of the conference the scenario calls `name`, created once."""
        future = self._conferences.get(name)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._conferences[name] = future
            try:
                summary = await self.admin.conferences.create(
                    CreateConferenceWebCommand(organization_id=self.organization_id)
                )
                if not summary.id:
                    raise ValueError("createConference answered without a conference id")
                future.set_result(summary.id)
            except BaseException as error:
                del self._conferences[name]
                future.set_exception(error)
                future.exception()  # retrieved here: waiters (if any) get it too
                raise
        return await asyncio.shield(future)

    async def ticket(self, conference_id: str, customer_id: str) -> TicketLogin:
        """A login for a customer of `conference_id`, with a ticket made by the service login."""
        return TicketLogin(await self.ticket_id(conference_id, customer_id))

    async def ticket_id(self, conference_id: str, customer_id: str) -> str:
        """A ticket for a customer of `conference_id` (a browser types it into its page)."""
        ticket = await self.admin.security.create_ticket(
            TicketRequest(
                type=TicketType.MULTI_USE_TICKET,
                ttl=TICKET_TTL,
                properties=TicketProperties(conference_id=conference_id, customer_id=customer_id),
            )
        )
        register_secret(ticket.id)
        return ticket.id

    def agent_login(self, login: Login | None) -> TokenProvider:
        """An agent's token provider: its own credentials, else the run's."""
        return (login or self.login).provider()

    async def close(self) -> None:
        await self.admin.close()


@contextlib.asynccontextmanager
async def open_platform(
    server_url: str | None,
    login: Login | None,
    organization_id: str | None = None,
    network_indicator_interval: float | None = None,
) -> AsyncIterator[RunPlatform]:
    """The remote platform at `server_url` with `login`, or (no URL) the embedded one,
    started here and stopped on exit with everything it holds (grading the participants'
    networks every `network_indicator_interval` seconds, if given)."""
    if server_url is not None:
        if login is None:
            raise ValueError(f"no client credentials for {server_url}")
        platform = RunPlatform(server_url.rstrip("/"), login, organization_id)
        try:
            await _check_login(platform)
            yield platform
        finally:
            await platform.close()
        return

    from server.embedded import EmbeddedServer  # only runs without a server URL need it
    from server.media.router import Router

    async with EmbeddedServer(network_indicator_interval=network_indicator_interval) as server:
        client = server.client
        router = server.platform.router
        count = router.peer_connection_count if isinstance(router, Router) else None
        platform = RunPlatform(
            server.base_url,
            Login(client.client_id, SecretStr(client.secret)),
            peer_connection_count=count,
        )
        try:
            yield platform
        finally:
            await platform.close()


async def _check_login(platform: RunPlatform) -> None:
    """Log in once up front, so bad credentials fail the run with one clear message."""
    try:
        await platform.admin.claims()
    except ApiError as error:
        raise LoginFailed(
            f"cannot log in to {platform.base_url} as {platform.login.client_id}: {error}"
        ) from None
