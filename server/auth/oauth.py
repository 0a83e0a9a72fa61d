"""The OAuth grants of `/security/oauth/token`: who gets a token, with which identity.

Errors follow RFC 6749 (`{error, error_description}`; 401 for client authentication, 400 for
the rest) because that is what OAuth libraries in other clients parse.
"""

from __future__ import annotations

import hmac
import uuid

from agent.api.models.auth import GrantType, TokenRequestForm
from server.auth.tickets import TicketError, TicketService
from server.auth.tokens import IssuedTokens, TokenError, TokenService
from server.config import ClientConfig, ServerConfig

CUSTOMER_CLIENT_ID = "customer"
"""The public client customers log in with (HTTP Basic `customer:`, empty secret)."""

_USER_ID_NAMESPACE = uuid.UUID("5d1c7f0e-6a43-4bb0-9d59-2b3f5a2f4c11")
_NO_SUCH_CLIENT_SECRET = "no-such-client"  # compared against, so unknown ids take as long


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str):
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


def client_user_id(client: ClientConfig) -> str:
    """A client's user id: the same on every login and every restart (records refer to it)."""
    return str(uuid.uuid5(_USER_ID_NAMESPACE, f"{client.organization}/{client.client_id}"))


class OAuthService:
    def __init__(self, config: ServerConfig, tokens: TokenService, tickets: TicketService):
        self._config = config
        self._tokens = tokens
        self._tickets = tickets

    def grant(self, form: TokenRequestForm, basic: tuple[str, str] | None) -> IssuedTokens:
        client_id, secret = basic if basic is not None else (form.client_id, form.client_secret)
        if basic is not None and form.client_id and form.client_id != basic[0]:
            raise OAuthError(400, "invalid_request", "client_id differs from HTTP Basic")
        if form.grant_type is GrantType.CLIENT_CREDENTIALS:
            return self._client_credentials(client_id, secret)
        if form.grant_type is GrantType.PASSWORD:
            return self._ticket_login(client_id, secret, form.username or "")
        return self._refresh(client_id, secret, form.refresh_token or "")

    def _authenticate(self, client_id: str | None, secret: str | None) -> ClientConfig:
        if not client_id:
            raise OAuthError(
                401, "invalid_client", "client authentication required (HTTP Basic or client_id)"
            )
        client = self._config.client(client_id)
        expected = client.secret if client is not None else _NO_SUCH_CLIENT_SECRET
        matches = hmac.compare_digest((secret or "").encode(), expected.encode())
        if client is None or not matches:
            raise OAuthError(401, "invalid_client", "client authentication failed")
        return client

    def _client_credentials(self, client_id: str | None, secret: str | None) -> IssuedTokens:
        if client_id == CUSTOMER_CLIENT_ID:
            raise OAuthError(
                400, "unauthorized_client", "customers log in with grant_type=password and a ticket"
            )
        client = self._authenticate(client_id, secret)
        return self._tokens.issue(
            user_id=client_user_id(client),
            organization=client.organization,
            roles=client.roles,
            client_id=client.client_id,
        )

    def _ticket_login(
        self, client_id: str | None, secret: str | None, ticket_id: str
    ) -> IssuedTokens:
        if client_id != CUSTOMER_CLIENT_ID or secret:
            raise OAuthError(
                400,
                "unauthorized_client",
                "grant_type=password is for customers: HTTP Basic 'customer:' and a ticket",
            )
        try:
            ticket = self._tickets.redeem(ticket_id)
        except TicketError as exc:
            raise OAuthError(400, "invalid_grant", str(exc)) from None
        return self._tokens.issue(
            user_id=str(uuid.uuid4()),
            organization=ticket.organization,
            roles=("CUSTOMER",),
            client_id=CUSTOMER_CLIENT_ID,
            conference_id=ticket.conference_id,
        )

    def _refresh(self, client_id: str | None, secret: str | None, token: str) -> IssuedTokens:
        """A new pair for a valid refresh token. The old refresh token stays usable until it
        expires (no rotation): Spring's OAuth server behind the real platform reuses refresh
        tokens by default, and a client whose refresh answer was lost can simply retry.

        A confidential client authenticates (RFC 6749 section 6), whether or not it names
        itself; the customers' public client has no secret to check."""
        try:
            caller = self._tokens.verify_refresh(token)
        except TokenError as exc:
            raise OAuthError(400, "invalid_grant", str(exc)) from None
        if client_id is not None and client_id != caller.client_id:
            raise OAuthError(400, "invalid_grant", "the refresh token belongs to another client")
        roles, organization = caller.roles, caller.organization
        if caller.client_id != CUSTOMER_CLIENT_ID:
            self._authenticate(client_id, secret)
            client = self._config.client(caller.client_id)
            if client is None:
                raise OAuthError(400, "invalid_grant", "the token's client no longer exists")
            roles, organization = frozenset(client.roles), client.organization
        return self._tokens.issue(
            user_id=caller.user_id,
            organization=organization,
            roles=roles,
            client_id=caller.client_id,
            conference_id=caller.conference_id,
        )
