"""The whole platform in-process on loopback, for tests and for scenarios without a server URL.

async with EmbeddedServer(clients=["bot:s3cret:AGENT:org1"]) as srv:
    srv.base_url        # http://127.0.0.1:<ephemeral port>
    srv.ws_url          # ws://127.0.0.1:<port>/ws (the MQTT event channel)
    srv.platform        # the services, for assertions on live state
    srv.clients[0]      # client id / secret to log in with
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiohttp import web
from aiohttp.log import access_logger

from server.app import create_app
from server.config import ClientConfig, ServerConfig, dev_client
from server.events import EventPublisher
from server.media.contract import MediaRouter
from server.platform import PLATFORM_KEY, Platform
from server.request_logs import PathAccessLogger, keep_to_one_line, server_logger
from server.signing import data_dir_key

TOKEN_KEY_FILE = "token-signing.key"
SHUTDOWN_TIMEOUT = 2.0
"""Open requests (long-polls, WebSockets) get this long at exit, not aiohttp's 60 s."""


class ListenError(OSError):
    """The platform cannot listen where it was asked to (port taken, no such address)."""


class EmbeddedServer:
    def __init__(
        self,
        clients: Sequence[ClientConfig | str] = (),
        *,
        data_dir: Path | str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        router: MediaRouter | None = None,
        publisher: EventPublisher | None = None,
        prepare: Callable[[web.Application], None] | None = None,
        access_log: bool = False,
        **settings: Any,
    ):
        """`clients` as `ClientConfig` or `ID:SECRET:ROLES:ORG`; none means one dev client.

        `settings` are `ServerConfig` fields (e.g. `long_poll_seconds=1.0`); `data_dir=None`
        uses a temporary directory removed at exit. `prepare` sees the application before it
        starts (e.g. to set `server.composition.recordings.RECORDINGS_KEY`).
        """
        parsed = tuple(c if isinstance(c, ClientConfig) else ClientConfig.parse(c) for c in clients)
        self.clients: tuple[ClientConfig, ...] = parsed or (dev_client(),)
        self._data_dir = Path(data_dir) if data_dir is not None else None
        self._host = host
        self._port = port
        self._router = router
        self._publisher = publisher
        self._prepare = prepare
        self._settings = settings
        self._access_log = access_log
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._runner: web.AppRunner | None = None
        self._app: web.Application | None = None
        self.port = 0

    def __repr__(self) -> str:
        return f"EmbeddedServer({self.base_url if self.port else 'stopped'})"

    @property
    def client(self) -> ClientConfig:
        """The first client: the development client (AGENT,SUPERVISOR,SERVICE in org `dev`)
        when none was given. Its `client_id` and `secret` log in with client_credentials."""
        return self.clients[0]

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self._host}:{self.port}/ws"

    @property
    def app(self) -> web.Application:
        if self._app is None:
            raise RuntimeError("the embedded server is not running")
        return self._app

    @property
    def platform(self) -> Platform:
        return self.app[PLATFORM_KEY]

    @property
    def config(self) -> ServerConfig:
        return self.platform.config

    async def start(self) -> None:
        data_dir = self._data_dir
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="auvious-platform-")
            data_dir = Path(self._tmp.name)
        # Tokens are signed with the data directory's key unless one is given, so the tokens
        # handed out before a restart stay valid after it.
        settings = {"token_secret": data_dir_key(data_dir, TOKEN_KEY_FILE).hex(), **self._settings}
        config = dataclasses.replace(
            ServerConfig(clients=self.clients, data_dir=data_dir), **settings
        )
        self._app = create_app(config, router=self._router, publisher=self._publisher)
        for package in ("server", "aiohttp"):  # caller text in a message stays on its line
            keep_to_one_line(package)
        if self._prepare is not None:
            self._prepare(self._app)  # before startup: app state is frozen after it
        self._runner = web.AppRunner(
            self._app,
            access_log=access_logger if self._access_log else None,
            access_log_class=PathAccessLogger,
            logger=server_logger(),
            shutdown_timeout=SHUTDOWN_TIMEOUT,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        try:
            await site.start()
        except OSError as error:  # asyncio's text repeats the address: the errno's is enough
            reason = os.strerror(error.errno) if error.errno else str(error)
            raise ListenError(
                error.errno, f"cannot listen on {self._host}:{self._port}: {reason.lower()}"
            ) from error
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
