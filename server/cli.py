"""`auvious-agent serve`: the local platform on its own, for browsers and other clients."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.ice_addresses import add_ice_host_address_option
from server.config import DEV_CLIENT_ID, ClientConfig, ConfigError, dev_client

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
_DEV_HELP = (
    f"with no --client, a development client '{DEV_CLIENT_ID}' (roles AGENT,SUPERVISOR,SERVICE, "
    "organization 'dev') is created with a random secret kept in the data directory "
    "(dev-client.secret) and printed at startup"
)


def add_serve_command(sub: Any) -> Any:
    p: argparse.ArgumentParser = sub.add_parser(
        "serve",
        help="run the local Auvious platform (RTC API, OAuth, MQTT event channel, media router)",
        description="Run the local Auvious platform. " + _DEV_HELP + ".",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks one)")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data"),
        help="records and uploaded files (default ./data)",
    )
    p.add_argument(
        "--client",
        action="append",
        default=[],
        metavar="ID:SECRET:ROLES:ORG",
        help="an OAuth client, roles comma-separated (repeatable); " + _DEV_HELP,
    )

    p.add_argument(
        "--ice-server",
        action="append",
        default=[],
        metavar="URL",
        help="a STUN/TURN URL handed to clients, e.g. turn:10.0.0.5:3478 (repeatable)",
    )
    p.add_argument(
        "--turn-secret-file",
        type=Path,
        help="file holding the TURN server's shared secret (TURN REST API credentials)",
    )
    p.add_argument(
        "--composition-workers",
        type=_workers,
        default=1,
        metavar="N",
        help="compositions rendered at once, each in its own process of about one core "
        "(1-16, default 1)",
    )
    p.add_argument(
        "--access-token-ttl",
        type=_token_ttl,
        default=3600,
        metavar="SECONDS",
        help="lifetime of the access tokens the token endpoint issues (10-86400, default "
        "3600): short ones test a client's renewal",
    )
    add_ice_host_address_option(p)

    def run(args: argparse.Namespace) -> int:
        try:
            clients = [ClientConfig.parse(spec) for spec in args.client]
        except ConfigError as exc:
            p.error(f"--client: {exc}")
        settings: dict[str, Any] = {
            "ice_servers": tuple(args.ice_server),
            "composition_workers": args.composition_workers,
            "access_token_ttl": args.access_token_ttl,
        }
        if args.turn_secret_file is not None:
            try:
                settings["turn_secret"] = args.turn_secret_file.read_text().strip()
            except OSError as exc:
                p.error(f"--turn-secret-file: cannot read it: {exc.strerror}")
        from agent.webrtc import apply_ice_host_address_option, seams

        if not seams.install_for_command("auvious-agent serve", "amqtt"):
            return 1
        apply_ice_host_address_option(args, platform_host=args.host)
        try:
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(
                    _serve(args.host, args.port, args.data_dir.resolve(), clients, settings)
                )
        except ConfigError as exc:  # settings checked by the route modules at startup
            p.error(str(exc))
        except OSError as exc:  # the port is taken, the address is not ours, the data dir...
            from server.embedded import ListenError

            if isinstance(exc, ListenError):
                why = str(exc.strerror)
            else:
                where = f": {exc.filename}" if exc.filename else ""
                why = f"cannot start: {exc.strerror or exc}{where}"
            print(f"auvious-agent serve: {why}", file=sys.stderr)
            return 1
        return 0

    return run


def _whole_number(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not text.isdigit() or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(f"{text!r}: a whole number from {low} to {high}")
        return int(text)

    return parse


_workers = _whole_number(1, 16)
_token_ttl = _whole_number(10, 86400)


async def _serve(
    host: str, port: int, data_dir: Path, clients: list[ClientConfig], settings: dict[str, Any]
) -> None:
    from server.embedded import EmbeddedServer  # the platform: only when it is served

    created = dev_client(data_dir) if not clients else None
    server = EmbeddedServer(
        [created] if created is not None else clients,
        data_dir=data_dir,
        host=host,
        port=port,
        access_log=True,
        **settings,
    )
    async with server:
        # From here on: a start that fails says so in one line, not after the broker's chatter.
        logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
        print(f"Auvious platform at {server.base_url} (event channel {server.ws_url})", flush=True)
        print(f"data directory: {data_dir}", flush=True)
        if created is not None:
            # The only place a secret is ever printed: the user's own development client.
            print(
                f"development client: id={created.client_id} secret={created.secret} "
                f"roles={','.join(created.roles)} organization={created.organization}",
                flush=True,
            )
        for client in clients:
            print(
                f"client {client.client_id}: roles={','.join(client.roles)} "
                f"organization={client.organization}",
                flush=True,
            )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        print("stopping", flush=True)
