"""Who may use the event channel, and for which topics.

The rules live in `ChannelAccess`, plain Python that the WebSocket gate and the amqtt plugins
both call, so there is one definition of "allowed" whichever path asks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session

log = logging.getLogger(__name__)

#: Checks an access token and returns its subject (the user id); raises on an invalid or
#: expired token.
Verify = Callable[[str], str]
#: The user id that owns a registered endpoint, or None when the endpoint is unknown (or
#: registered in several organizations: the legacy topic names no organization).
EndpointOwner = Callable[[str], str | None]

_MQTT_WILDCARDS = frozenset("+#")


class ChannelAuthError(Exception):
    """A CONNECT the channel refuses. The message is safe to log: it never holds the token."""


class ChannelAccess:
    """Authentication (JWT as password, username = its `sub`) and the topic ACL."""

    def __init__(self, verify: Verify, endpoint_owner: EndpointOwner | None = None) -> None:
        self._verify = verify
        self._endpoint_owner = endpoint_owner

    @property
    def legacy_topics(self) -> bool:
        """Whether `users/endpoints/{id}` topics are served (they need `endpoint_owner`)."""
        return self._endpoint_owner is not None

    def authenticate(self, username: str | None, password: str | None) -> str:
        """Return the user id the credentials prove, or raise `ChannelAuthError`."""
        if not username or not password:
            raise ChannelAuthError("username and password (the access token) are required")
        try:
            sub = self._verify(password)
        except Exception as exc:
            # The verifier's message is not repeated: it could quote the token.
            raise ChannelAuthError(f"access token rejected ({type(exc).__name__})") from None
        if not isinstance(sub, str) or not sub:
            raise ChannelAuthError("access token has no subject")
        if "/" in sub or _MQTT_WILDCARDS & set(sub):
            raise ChannelAuthError("access token subject cannot name an MQTT topic level")
        if username != sub:
            raise ChannelAuthError("username is not the access token's subject")
        return sub

    def may_subscribe(self, user_id: str, topic_filter: str) -> bool:
        """Own `user/{sub}/...` topics (wildcards below the user level allowed), and the legacy
        `users/endpoints/{id}` of an endpoint this user registered."""
        levels = topic_filter.split("/")
        if len(levels) >= 2 and levels[0] == "user" and levels[1] == user_id:
            return True
        if (
            len(levels) == 3
            and levels[:2] == ["users", "endpoints"]
            and self._endpoint_owner is not None
            and not _MQTT_WILDCARDS & set(levels[2])
        ):
            return self.serves_legacy(user_id, levels[2])
        return False

    def serves_legacy(self, user_id: str, endpoint_id: str) -> bool:
        """Whether `users/endpoints/{endpoint_id}` is this user's: the endpoint's sole holder
        (checked again for every message, so a namesake registered later in another
        organization ends the delivery instead of sharing it)."""
        return self._endpoint_owner is not None and self._endpoint_owner(endpoint_id) == user_id

    def may_publish(self, user_id: str, topic: str) -> bool:
        """Only the server publishes; clients are listeners."""
        return False


def _user_of(session: Session | None) -> str | None:
    username = getattr(session, "username", None) if session is not None else None
    return username if isinstance(username, str) and username else None


class JwtAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]  # amqtt ships no type hints
    """amqtt authentication through `ChannelAccess` (amqtt refuses clients without one)."""

    @dataclass
    class Config:
        access: Any = None

    async def authenticate(self, *, session: Session) -> bool:
        access: ChannelAccess = self.config.access
        try:
            access.authenticate(session.username, session.password)
        except ChannelAuthError as exc:
            log.info("event channel: refused client %r: %s", session.client_id, exc)
            return False
        return True


class TopicAclPlugin(BaseTopicPlugin):  # type: ignore[misc]  # amqtt ships no type hints
    """amqtt topic filtering through `ChannelAccess`."""

    @dataclass
    class Config:
        access: Any = None

    async def topic_filtering(
        self,
        *,
        session: Session | None = None,
        topic: str | None = None,
        action: Action | None = None,
    ) -> bool:
        access: ChannelAccess = self.config.access
        user_id = _user_of(session)
        if user_id is None or not topic:
            return False
        if action == Action.PUBLISH:
            allowed = access.may_publish(user_id, topic)
        else:  # SUBSCRIBE, and RECEIVE re-checked at delivery
            allowed = access.may_subscribe(user_id, topic)
        if not allowed:
            log.info("event channel: %r may not %s %r", user_id, action, topic)
        return allowed
