"""Signed JWTs: the access and refresh tokens the platform hands out and checks.

HS256 with a per-server secret: tokens are only ever verified by the process that issued them
(REST middleware and the MQTT broker), so a shared secret is enough and keeps setup trivial.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import jwt

from server.auth.caller import Caller

ISSUER = "auvious-agent-local"
TokenKind = Literal["access", "refresh"]


class TokenError(Exception):
    """A token that cannot be used; the message says why, never what the token was."""


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    jti: str
    caller: Caller

    def __repr__(self) -> str:
        return f"IssuedTokens(jti={self.jti!r}, sub={self.caller.user_id!r}, tokens=<hidden>)"


class TokenService:
    def __init__(
        self,
        secret: str,
        *,
        access_ttl: int,
        refresh_ttl: int,
        clock: Callable[[], float] = time.time,
    ):
        self._secret = secret
        self._access_ttl = access_ttl
        self._refresh_ttl = refresh_ttl
        self._clock = clock

    def __repr__(self) -> str:
        return f"TokenService(access_ttl={self._access_ttl}, refresh_ttl={self._refresh_ttl})"

    def issue(
        self,
        *,
        user_id: str,
        organization: str,
        roles: Iterable[str],
        client_id: str,
        conference_id: str | None = None,
    ) -> IssuedTokens:
        """A fresh access/refresh pair; both carry the same identity, the refresh lives longer."""
        now = int(self._clock())
        jti = str(uuid.uuid4())
        roles = sorted(set(roles))
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "sub": user_id,
            "organization": organization,
            "roles": roles,
            "client_id": client_id,
            "iat": now,
            "jti": jti,
        }
        if conference_id:
            claims["conference_id"] = conference_id
        access = self._encode({**claims, "kind": "access", "exp": now + self._access_ttl})
        refresh = self._encode(
            {
                **claims,
                "jti": str(uuid.uuid4()),
                "kind": "refresh",
                "exp": now + self._refresh_ttl,
            }
        )
        caller = Caller(
            user_id=user_id,
            organization=organization,
            roles=frozenset(roles),
            client_id=client_id,
            conference_id=conference_id,
            jti=jti,
        )
        return IssuedTokens(access, refresh, self._access_ttl, jti, caller)

    def verify_access(self, token: str) -> Caller:
        """The caller an access token speaks for; TokenError when invalid, expired or a refresh."""
        return self._verify(token, "access")

    def verify_refresh(self, token: str) -> Caller:
        return self._verify(token, "refresh")

    def _encode(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def _verify(self, token: str, kind: TokenKind) -> Caller:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "jti", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError(f"{kind} token has expired") from None
        except jwt.PyJWTError:
            raise TokenError(f"{kind} token is not valid") from None
        if claims.get("kind") != kind:
            raise TokenError(f"not an {kind} token" if kind == "access" else f"not a {kind} token")
        roles = claims.get("roles")
        organization = claims.get("organization")
        if not isinstance(roles, list) or not isinstance(organization, str):
            raise TokenError(f"{kind} token is not valid")
        conference_id = claims.get("conference_id")
        return Caller(
            user_id=str(claims["sub"]),
            organization=organization,
            roles=frozenset(str(r) for r in roles),
            client_id=str(claims.get("client_id", "")),
            conference_id=conference_id if isinstance(conference_id, str) else None,
            jti=str(claims["jti"]),
        )
