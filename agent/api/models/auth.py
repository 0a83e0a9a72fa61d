"""OAuth token endpoint and tickets (`/security/...`): snake_case on the wire, as OAuth is.

Secrets are kept out of reprs (`repr=False`) and out of validation error text
(`hide_input_in_errors`), since both end up in logs."""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from pydantic import ConfigDict, Field, model_validator

from agent.api.models.base import SnakeWireModel, WireModel

__all__ = [
    "AnotherErrorResponse",
    "GrantType",
    "TicketProperties",
    "TicketRequest",
    "TicketResponse",
    "TicketType",
    "TokenRequestForm",
    "TokenResponse",
]


class GrantType(StrEnum):
    CLIENT_CREDENTIALS = "client_credentials"
    PASSWORD = "password"
    REFRESH_TOKEN = "refresh_token"


class TokenRequestForm(SnakeWireModel):
    """The form body of `POST /security/oauth/token`.

    Client id and secret may instead come as HTTP Basic, so they are optional here."""

    model_config = ConfigDict(hide_input_in_errors=True)

    grant_type: GrantType
    client_id: str | None = None
    client_secret: str | None = Field(default=None, repr=False)
    username: str | None = Field(default=None, repr=False)
    password: str | None = Field(default=None, repr=False)
    refresh_token: str | None = Field(default=None, repr=False)
    scope: str | None = None

    @model_validator(mode="after")
    def _grant_fields(self) -> Self:
        if self.grant_type is GrantType.PASSWORD and not self.username:
            raise ValueError("grant_type=password needs username (the ticket)")
        if self.grant_type is GrantType.REFRESH_TOKEN and not self.refresh_token:
            raise ValueError("grant_type=refresh_token needs refresh_token")
        return self


class TokenResponse(SnakeWireModel):
    """The token endpoint's answer; on failure only `error`/`error_description` are set."""

    model_config = ConfigDict(hide_input_in_errors=True)

    access_token: str | None = Field(default=None, repr=False)
    token_type: str | None = None
    refresh_token: str | None = Field(default=None, repr=False)
    expires_in: int | None = None
    scope: str | None = None
    jti: str | None = None
    organization: str | None = None
    sub: str | None = None
    conference_id: str | None = None
    error: str | None = None
    error_description: str | None = None


class AnotherErrorResponse(SnakeWireModel):
    """The OAuth-style error body (seed 002 `AnotherErrorResponse`)."""

    error: str | None = None
    error_description: str | None = None


class TicketType(StrEnum):
    MULTI_USE_TICKET = "MULTI_USE_TICKET"
    SCHEDULE_TICKET = "SCHEDULE_TICKET"


class TicketProperties(SnakeWireModel):
    """Mixed naming on the wire: `applicationId` but `conference_id`, `customer_id`."""

    application_id: str | None = Field(default=None, alias="applicationId")
    conference_id: str | None = None
    customer_id: str | None = None


class TicketRequest(WireModel):
    """`POST /security/ticket`: a ticket a customer later logs in with (as username)."""

    type: TicketType
    ttl: int | None = Field(default=None, ge=1)
    length: int | None = Field(default=None, ge=1)
    properties: TicketProperties | None = None


class TicketResponse(WireModel):
    """The ticket id is the credential a customer logs in with, so it is kept out of reprs."""

    model_config = ConfigDict(hide_input_in_errors=True)

    id: str = Field(repr=False)
