"""``AuviousClient``: the RTC API of one platform, as one authenticated caller sees it.

Usage::

    async with AuviousClient("http://127.0.0.1:8080", ClientCredentials(id, secret)) as api:
        endpoint_id = await api.registrations.register(
            RegisterUserEndpointWebCommand(keep_alive_seconds=30)
        )
        summary = await api.conferences.join(
            JoinConferenceWebCommand(conference_id=cid, user_endpoint_id=endpoint_id)
        )

Every method takes and returns the wire models of ``agent.api.models`` and raises
``ApiError`` on any failure.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

import aiohttp

from agent.api.auth import TokenClaims, TokenProvider
from agent.api.endpoints import (
    Assets,
    Compositions,
    Conferences,
    FileTransfers,
    IceServers,
    Interactions,
    Ratings,
    Recorder,
    Registrations,
    Security,
    Snapshots,
    Talkdesk,
)
from agent.api.endpoints.conferences import DEFAULT_EVENTS_TIME_LIMIT
from agent.api.http import DEFAULT_TIMEOUT, Call, HttpTransport

__all__ = ["AuviousClient"]

DOWNLOAD = Call("downloadSignedUrl", "GET", "(signed URL)", authenticated=False)


class AuviousClient:
    """The REST API of the platform at ``base_url`` (its root: REST under ``/rtc-api``,
    tokens under ``/security``), authenticated by ``auth``."""

    def __init__(
        self,
        base_url: str,
        auth: TokenProvider | None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        events_time_limit: float = DEFAULT_EVENTS_TIME_LIMIT,
        max_attempts: int = 3,
        backoff: float = 0.25,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.http = HttpTransport(
            base_url,
            auth,
            timeout=timeout,
            max_attempts=max_attempts,
            backoff=backoff,
            session=session,
        )
        self.registrations = Registrations(self.http)
        self.conferences = Conferences(self.http, events_time_limit=events_time_limit)
        self.snapshots = Snapshots(self.http)
        self.recorder = Recorder(self.http)
        self.ratings = Ratings(self.http)
        self.interactions = Interactions(self.http)
        self.file_transfers = FileTransfers(self.http)
        self.assets = Assets(self.http)
        self.ice = IceServers(self.http)
        self.talkdesk = Talkdesk(self.http)
        self.security = Security(self.http)
        self.compositions = Compositions(self.http)

    def __repr__(self) -> str:
        return f"AuviousClient({self.http.base_url!r}, {self.auth!r})"

    @property
    def base_url(self) -> str:
        return self.http.base_url

    @property
    def auth(self) -> TokenProvider | None:
        """The token provider: current token, claims, and ``add_listener`` for changes."""
        return self.http.auth

    async def claims(self) -> TokenClaims:
        """The caller's claims (``sub``, ``organization``...), logging in first if needed."""
        if self.auth is None:
            raise RuntimeError("this client has no token provider")
        return (await self.auth.current()).claims

    async def download(self, url: str) -> bytes:
        """The content behind a signed URL (snapshots, file transfers, assets).

        No bearer token is sent: the signature is the credential, and the URL may point
        anywhere the server chose."""
        return (await self.http.request(DOWNLOAD, url=url)).body

    async def close(self) -> None:
        """Stop background token renewal and close connections."""
        await self.http.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
