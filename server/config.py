"""What a running platform is configured with: its clients, its data directory, its timings.

Timings are fields (not constants) so tests can shrink them: keepalive expiry and the events
long-poll would otherwise make the suite slow.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path

KNOWN_ROLES = frozenset({"AGENT", "SUPERVISOR", "CUSTOMER", "SERVICE", "ADMIN"})

DEV_CLIENT_ID = "dev"
"""The client `serve` creates when none is given (roles AGENT,SUPERVISOR,SERVICE; org `dev`)."""


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names it (never a secret)."""


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """An OAuth client allowed to get tokens with `client_credentials`."""

    client_id: str
    secret: str = field(repr=False)
    roles: tuple[str, ...]
    organization: str

    @classmethod
    def parse(cls, spec: str) -> ClientConfig:
        """Parse `ID:SECRET:ROLES:ORG` (roles comma-separated: `bot:s3cret:AGENT,SUPERVISOR:o1`)."""
        parts = spec.split(":")
        if len(parts) != 4:
            raise ConfigError("a client is ID:SECRET:ROLES:ORG (4 fields separated by ':')")
        client_id, secret, roles_text, organization = (p.strip() for p in parts)
        roles = tuple(r.strip().upper() for r in roles_text.split(",") if r.strip())
        return cls.create(client_id, secret, roles, organization)

    @classmethod
    def create(
        cls, client_id: str, secret: str, roles: tuple[str, ...], organization: str
    ) -> ClientConfig:
        if not client_id:
            raise ConfigError("client id is empty")
        if client_id == "customer":
            raise ConfigError("client id 'customer' is reserved for ticket logins")
        if not secret:
            raise ConfigError(f"client {client_id!r}: secret is empty")
        if not organization:
            raise ConfigError(f"client {client_id!r}: organization is empty")
        if not roles:
            raise ConfigError(f"client {client_id!r}: no roles")
        unknown = sorted(set(roles) - KNOWN_ROLES)
        if unknown:
            raise ConfigError(
                f"client {client_id!r}: unknown roles {unknown}; known: {sorted(KNOWN_ROLES)}"
            )
        return cls(client_id, secret, roles, organization)


DEV_SECRET_FILE = "dev-client.secret"
"""Where `serve` keeps the development client's secret in its data directory."""


def dev_client(data_dir: Path | None = None) -> ClientConfig:
    """The development client. With `data_dir`, its secret is kept there (made once, owner-only)
    so endpoints configured with it keep working across restarts; without, a fresh one."""
    secret = None
    path = data_dir / DEV_SECRET_FILE if data_dir is not None else None
    if path is not None and path.exists():
        secret = path.read_text().strip() or None
    if secret is None:
        secret = secrets.token_urlsafe(18)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secret + "\n")
    return ClientConfig.create(DEV_CLIENT_ID, secret, ("AGENT", "SUPERVISOR", "SERVICE"), "dev")


@dataclass(frozen=True, slots=True)
class ServerConfig:
    clients: tuple[ClientConfig, ...]
    data_dir: Path
    token_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    access_token_ttl: int = 3600
    refresh_token_ttl: int = 24 * 3600
    max_ticket_ttl: int = 7 * 24 * 3600
    housekeeping_interval: float = 0.1
    """How often endpoint expiry and conference expiry are checked (seconds)."""
    keepalive_grace: float = 0.5
    """Seconds an endpoint outlives its keepAliveSeconds, so on-time keepalives never race."""
    keepalive_reminder_lead: float = 0.5
    """Fraction of keepAliveSeconds left when the keepalive reminder event is sent."""
    max_endpoints_per_user: int = 1000
    """Registered endpoints one user may hold at once (a load crowd shares one user)."""
    max_endpoints_per_organization: int = 100_000
    """Registered endpoints one organization may hold at once (each customer login is a user
    of its own, so the per-user limit alone does not bound what one ticket's logins hold)."""
    long_poll_seconds: float = 5.0
    """How long `GET /conferences/{id}/events` blocks when there is nothing new."""
    empty_conference_ttl: float = 600.0
    """An empty conference (nobody joined) ends after this many seconds."""
    ended_conference_retention: float = 120.0
    network_indicator_interval: float | None = None
    """Seconds between the router's network grades (ConferenceNetworkIndicatorUpdatedEvent,
    sent when a grade changes); None: no network indicator events."""
    """An ended conference's events stay readable this long (late long-polls catch up)."""
    ice_servers: tuple[str, ...] = ()
    """STUN/TURN URLs `/iceServers` hands out; none by default, never a public server."""
    turn_secret: str | None = field(default=None, repr=False)
    """Shared secret of the TURN server: credentials are made with it (TURN REST API)."""
    ice_ttl: int = 24 * 3600
    """Seconds TURN credentials stay valid."""
    max_recording_seconds: float = 4 * 3600
    """A recording stops by itself after this long (the seed names no limit)."""
    composition_workers: int = 1
    """Compositions rendered at once (each in its own process, about one core each)."""
    composition_fps: int = 15
    """Frame rate of VIDEO compositions."""
    composition_timeout: float = 3600.0
    """A render still running after this many seconds is killed and FAILED."""
    composition_preprocess_wait: float = 600.0
    """How long a composition waits for its conversation's recordings to finish."""

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for c in self.clients:
            if c.client_id in seen:
                raise ConfigError(f"client {c.client_id!r} is configured twice")
            seen.add(c.client_id)

    def client(self, client_id: str) -> ClientConfig | None:
        return next((c for c in self.clients if c.client_id == client_id), None)
