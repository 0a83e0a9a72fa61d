"""Token providers: where a client's bearer token comes from and when it is renewed.

One abstraction, ``TokenProvider``, with the ways the platform hands out tokens:
``ClientCredentials`` (services and bots), ``TicketLogin`` (customers: password grant with a
ticket as username, HTTP Basic ``customer:``), ``RefreshTokenLogin`` (start from a refresh
token) and ``StaticToken`` (a bearer token obtained elsewhere).

A token is renewed ahead of expiry (``refresh_margin``, 40 s by default, as the platform's own
clients do) both lazily, when a call needs it, and in the background, so that listeners such
as the event channel get the new token before the old one stops working. Renewal happens
under a lock: concurrent calls wait for one renewal instead of starting their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import jwt

from agent.api.errors import ApiError
from agent.api.models.auth import GrantType, TokenRequestForm, TokenResponse
from agent.redact import register_secret

__all__ = [
    "ClientCredentials",
    "RefreshTokenLogin",
    "StaticToken",
    "TicketLogin",
    "Token",
    "TokenClaims",
    "TokenEndpoint",
    "TokenListener",
    "TokenProvider",
]

log = logging.getLogger(__name__)

DEFAULT_REFRESH_MARGIN = 40.0
# When the background renewal fails (server briefly away), try again this often until the
# token expires; a call made meanwhile renews on its own and reports the error.
_RETRY_RENEWAL_AFTER = 5.0


class TokenEndpoint(Protocol):
    """``POST /security/oauth/token`` as the transport offers it to providers."""

    async def request_token(
        self, form: Mapping[str, str], client: tuple[str, str] | None
    ) -> TokenResponse:
        """A successful answer (with an ``access_token``), or ``ApiError``."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a token says about its holder.

    ``sub`` is the user id (the event channel's MQTT username and topic prefix),
    ``organization`` the organization, ``conference_id`` a customer ticket's conference.
    """

    sub: str | None
    organization: str | None
    conference_id: str | None
    roles: tuple[str, ...]
    expires_at: float | None
    raw: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class Token:
    """An access token with what is known about it. Secrets are left out of the repr."""

    access_token: str = field(repr=False)
    claims: TokenClaims
    refresh_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None
    refresh_at: float | None = None
    scope: str | None = None

    def due(self, now: float | None = None) -> bool:
        """Whether it is time to renew (wall clock, since ``exp`` is wall clock)."""
        if self.refresh_at is None:
            return False
        return (time.time() if now is None else now) >= self.refresh_at


TokenListener = Callable[[Token], None]


def _decode_claims(access_token: str) -> dict[str, Any]:
    """The JWT payload, unverified: the client trusts the server it got the token from and
    only reads who it is. Opaque (non-JWT) tokens give no claims."""
    try:
        payload = jwt.decode(access_token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _roles(raw: Mapping[str, Any]) -> tuple[str, ...]:
    for key in ("roles", "authorities", "role"):
        value = raw.get(key)
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list):
            return tuple(str(v) for v in value)
    return ()


def make_token(
    access_token: str,
    *,
    response: TokenResponse | None = None,
    refresh_margin: float = DEFAULT_REFRESH_MARGIN,
    issued_at: float | None = None,
) -> Token:
    """Build a ``Token`` from the token endpoint's answer (or from a bare access token).

    The answer's own fields win over the JWT's; the refresh time is ``refresh_margin`` before
    expiry, but never earlier than half-way, so that short-lived tokens are not renewed on
    every call.
    """
    raw = _decode_claims(access_token)
    now = time.time() if issued_at is None else issued_at
    expires_at: float | None = None
    if response is not None and response.expires_in is not None:
        expires_at = now + response.expires_in
    elif isinstance(raw.get("exp"), int | float):
        expires_at = float(raw["exp"])
    refresh_at: float | None = None
    if expires_at is not None:
        lifetime = max(0.0, expires_at - now)
        refresh_at = now + max(lifetime - refresh_margin, lifetime / 2)
    claims = TokenClaims(
        sub=_text(response.sub if response else None) or _text(raw.get("sub")),
        organization=_text(response.organization if response else None)
        or _text(raw.get("organization"))
        or _text(raw.get("organization_id")),
        conference_id=_text(response.conference_id if response else None)
        or _text(raw.get("conference_id")),
        roles=_roles(raw),
        expires_at=expires_at,
        raw=raw,
    )
    return Token(
        access_token=access_token,
        claims=claims,
        refresh_token=response.refresh_token if response else None,
        expires_at=expires_at,
        refresh_at=refresh_at,
        scope=response.scope if response else None,
    )


class TokenProvider(ABC):
    """Gives the transport a valid access token, renews it, and tells listeners when it
    changes (the event channel reconnects with the new token as its MQTT password)."""

    def __init__(
        self, *, refresh_margin: float = DEFAULT_REFRESH_MARGIN, auto_refresh: bool = True
    ) -> None:
        self.refresh_margin = refresh_margin
        self.auto_refresh = auto_refresh
        self._token: Token | None = None
        self._lock = asyncio.Lock()
        self._listeners: list[TokenListener] = []
        self._endpoint: TokenEndpoint | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._closed = False

    def bind(self, endpoint: TokenEndpoint) -> None:
        """Fetch tokens through ``endpoint`` (the transport does this when given the provider)."""
        self._endpoint = endpoint

    @property
    def token(self) -> Token | None:
        """The current token, if one was obtained yet."""
        return self._token

    @property
    def claims(self) -> TokenClaims | None:
        """Claims of the current token (``sub``, ``organization``, ``conference_id``)."""
        return self._token.claims if self._token else None

    @property
    def renewable(self) -> bool:
        """Whether a rejected token can be replaced by a new one."""
        return True

    async def current(self) -> Token:
        """A token that is not due for renewal, renewing first if needed."""
        token = self._token
        if token is not None and not token.due():
            return token
        async with self._lock:
            token = self._token
            if token is None or token.due():
                token = await self._renew()
            return token

    async def access_token(self) -> str:
        return (await self.current()).access_token

    async def renew_after_rejection(self, rejected: str) -> bool:
        """The server answered 401 to ``rejected``: renew once and say whether to retry.

        If another call already replaced that token, the new one is used without renewing.
        """
        if not self.renewable:
            return False
        async with self._lock:
            if self._token is not None and self._token.access_token != rejected:
                return True
            await self._renew()
            return True

    def add_listener(self, listener: TokenListener) -> Callable[[], None]:
        """Call ``listener(token)`` after every new token; returns a function that removes it."""
        self._listeners.append(listener)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return remove

    async def aclose(self) -> None:
        """Stop background renewal."""
        self._closed = True
        task, self._refresher = self._refresher, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @abstractmethod
    async def _obtain(self) -> Token:
        """A new token (the caller holds the lock)."""

    def _endpoint_or_fail(self) -> TokenEndpoint:
        if self._endpoint is None:
            raise RuntimeError(
                f"{type(self).__name__} is not bound to a transport: pass it to AuviousClient"
                " or HttpTransport first"
            )
        return self._endpoint

    async def _renew(self) -> Token:
        token = await self._obtain()
        register_secret(token.access_token)
        register_secret(token.refresh_token)
        self._token = token
        log.info(
            "%s: new token for sub=%s organization=%s, renewal in %s s",
            type(self).__name__,
            token.claims.sub,
            token.claims.organization,
            f"{token.refresh_at - time.time():.0f}" if token.refresh_at else "never",
        )
        self._schedule_refresh(token)
        for listener in list(self._listeners):
            try:
                listener(token)
            except Exception:
                log.exception("token listener %r failed", listener)
        return token

    def _schedule_refresh(self, token: Token) -> None:
        if not self.auto_refresh or self._closed or token.refresh_at is None:
            return
        current = asyncio.current_task()
        if self._refresher is not None and self._refresher is not current:
            self._refresher.cancel()
        self._refresher = asyncio.get_running_loop().create_task(
            self._refresh_later(token), name=f"{type(self).__name__}-refresh"
        )

    async def _refresh_later(self, token: Token) -> None:
        assert token.refresh_at is not None
        await asyncio.sleep(max(0.0, token.refresh_at - time.time()))
        while not self._closed and self._token is token:
            try:
                async with self._lock:
                    if self._token is token:
                        await self._renew()
                return
            except ApiError as exc:
                if token.expires_at is not None and time.time() >= token.expires_at:
                    log.warning("background token renewal gave up, token expired: %s", exc)
                    return
                log.warning("background token renewal failed, trying again: %s", exc)
                await asyncio.sleep(_RETRY_RENEWAL_AFTER)


class StaticToken(TokenProvider):
    """A bearer token obtained elsewhere; it cannot be renewed, so a 401 is final."""

    def __init__(self, access_token: str) -> None:
        super().__init__(auto_refresh=False)
        if not access_token:
            raise ValueError("StaticToken needs a non-empty access token")
        register_secret(access_token)
        # Never due: nothing could renew it; an expired token gets the server's 401.
        self._token = replace(make_token(access_token), refresh_at=None)

    def __repr__(self) -> str:
        return f"StaticToken(sub={self._token.claims.sub if self._token else None!r})"

    @property
    def renewable(self) -> bool:
        return False

    async def _obtain(self) -> Token:
        assert self._token is not None
        return self._token


class OAuthLogin(TokenProvider):
    """A provider that talks to ``/security/oauth/token``.

    Renewal uses the refresh token when the server gave one; when that is refused, the
    original grant is made again (if the provider has one).
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        credentials_in_body: bool = False,
        scope: str | None = None,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        auto_refresh: bool = True,
    ) -> None:
        super().__init__(refresh_margin=refresh_margin, auto_refresh=auto_refresh)
        register_secret(client_secret)
        self.client_id = client_id
        self._client_secret = client_secret
        self._credentials_in_body = credentials_in_body
        self.scope = scope

    def __repr__(self) -> str:
        return f"{type(self).__name__}(client_id={self.client_id!r})"

    @abstractmethod
    def _grant(self) -> TokenRequestForm | None:
        """The form of the provider's own grant, or None when it has only a refresh token."""

    def _with_client(self, form: TokenRequestForm) -> tuple[dict[str, str], tuple[str, str] | None]:
        body = {k: str(v) for k, v in form.to_wire().items()}
        if self._credentials_in_body:
            body["client_id"] = self.client_id
            body["client_secret"] = self._client_secret
            return body, None
        return body, (self.client_id, self._client_secret)

    async def _request(self, form: TokenRequestForm) -> Token:
        body, basic = self._with_client(form)
        issued_at = time.time()
        response = await self._endpoint_or_fail().request_token(body, basic)
        assert response.access_token is not None  # the endpoint checks it
        token = make_token(
            response.access_token,
            response=response,
            refresh_margin=self.refresh_margin,
            issued_at=issued_at,
        )
        if token.refresh_token is None and form.refresh_token is not None:
            # A refresh answer without a new refresh token: the old one stays valid.
            token = replace(token, refresh_token=form.refresh_token)
        return token

    async def _obtain(self) -> Token:
        previous = self._token
        grant = self._grant()
        if previous is not None and previous.refresh_token:
            refresh = TokenRequestForm(
                grant_type=GrantType.REFRESH_TOKEN,
                refresh_token=previous.refresh_token,
                scope=self.scope,
            )
            try:
                return await self._request(refresh)
            except ApiError as exc:
                if grant is None or exc.status not in (400, 401):
                    raise
                log.info("%r: refresh token refused (%s), logging in again", self, exc.message)
        if grant is None:
            raise RuntimeError("no grant to obtain a token with")  # pragma: no cover
        return await self._request(grant)


class ClientCredentials(OAuthLogin):
    """Service and bot credentials (``grant_type=client_credentials``)."""

    def _grant(self) -> TokenRequestForm:
        return TokenRequestForm(grant_type=GrantType.CLIENT_CREDENTIALS, scope=self.scope)


class TicketLogin(OAuthLogin):
    """A customer logs in with a ticket from ``POST /security/ticket``.

    ``grant_type=password`` with the ticket as username and HTTP Basic ``customer:``; the
    password is ignored by the platform, the ticket is sent there too so that servers which
    insist on a non-empty password accept it.
    """

    def __init__(
        self,
        ticket: str,
        *,
        client_id: str = "customer",
        client_secret: str = "",
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        auto_refresh: bool = True,
    ) -> None:
        super().__init__(
            client_id, client_secret, refresh_margin=refresh_margin, auto_refresh=auto_refresh
        )
        if not ticket:
            raise ValueError("TicketLogin needs a ticket id")
        register_secret(ticket)
        self._ticket = ticket

    def _grant(self) -> TokenRequestForm:
        return TokenRequestForm(
            grant_type=GrantType.PASSWORD,
            username=self._ticket,
            password=self._ticket,
            scope=self.scope,
        )


class RefreshTokenLogin(OAuthLogin):
    """Start from a refresh token alone (``grant_type=refresh_token``); once it is refused,
    no new token can be had."""

    def __init__(
        self,
        refresh_token: str,
        *,
        client_id: str = "customer",
        client_secret: str = "",
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        auto_refresh: bool = True,
    ) -> None:
        super().__init__(
            client_id, client_secret, refresh_margin=refresh_margin, auto_refresh=auto_refresh
        )
        if not refresh_token:
            raise ValueError("RefreshTokenLogin needs a refresh token")
        register_secret(refresh_token)
        self._initial_refresh_token = refresh_token

    def _grant(self) -> None:
        return None

    async def _obtain(self) -> Token:
        if self._token is None or not self._token.refresh_token:
            return await self._request(
                TokenRequestForm(
                    grant_type=GrantType.REFRESH_TOKEN,
                    refresh_token=self._initial_refresh_token,
                    scope=self.scope,
                )
            )
        return await super()._obtain()
