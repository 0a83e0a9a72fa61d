"""Tokens, tickets and the bearer check: who may call the platform, and as whom."""

from server.auth.caller import CALLER_KEY, Caller
from server.auth.middleware import public
from server.auth.tokens import TokenError, TokenService

__all__ = ["CALLER_KEY", "Caller", "TokenError", "TokenService", "public"]
