"""Who is calling: the verified claims of an access token, as handlers see them."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from server.errors import Forbidden


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller of a `/rtc-api` request (`request[CALLER_KEY]`)."""

    user_id: str
    organization: str
    roles: frozenset[str]
    client_id: str
    conference_id: str | None = None
    """Set for customers who logged in with a ticket bound to a conference."""
    jti: str = ""

    def has_role(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)

    @property
    def is_service(self) -> bool:
        return "SERVICE" in self.roles

    @property
    def is_customer(self) -> bool:
        return self.roles == frozenset({"CUSTOMER"})

    def organization_for(self, requested: str | None) -> str:
        """The organization a call acts in.

        SERVICE callers act for the organization they name (`organizationId`), by default their
        own; everyone else acts in the organization of their token, whatever the body says (the
        seed: "for normal users their jwt organization claim will be used").
        """
        if self.is_service and requested:
            return requested
        return self.organization

    def require_role(self, *roles: str, action: str) -> None:
        if not self.has_role(*roles):
            raise Forbidden(f"{action} needs one of the roles {', '.join(roles)}")


CALLER_KEY = web.RequestKey("auvious_caller", Caller)
"""Set by the auth middleware on every authenticated request: `caller = request[CALLER_KEY]`."""
