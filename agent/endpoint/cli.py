"""`auvious-agent endpoint FILE`: run one long-lived endpoint until SIGTERM.

Exit codes: 0 stopped cleanly (left, unregistered), 2 the file or the command line is
invalid, 3 the platform refused the endpoint or it gave up coming back."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from agent.api.auth import ClientCredentials, TicketLogin, TokenProvider
from agent.endpoint.model import EndpointSpec
from agent.ice_addresses import add_ice_host_address_option
from agent.jsonlog import JsonFormatter
from agent.redact import redact
from agent.runtime import run_on_chosen_loop
from agent.scenario.cli import (
    DEFAULT_CLIENT_ID_ENV,
    DEFAULT_CLIENT_SECRET_ENV,
    OptionsError,
    print_issues,
)
from agent.scenario.loader import ScenarioError, read_yaml_model
from agent.scenario.outcome import ExitCode
from agent.scenario.progress import QUIET_LOGGERS

__all__ = ["add_endpoint_command", "load_endpoint", "login_of"]

Command = Callable[[argparse.Namespace], int]
NOT_A_MAPPING = "an endpoint file is a mapping (name:, server:, publish:, ...)"


def add_endpoint_command(sub: Any) -> Command:
    parser = sub.add_parser(
        "endpoint",
        help="run one long-lived endpoint (a kiosk, a robot) until SIGTERM",
        description=(
            "Run the endpoint FILE describes: register, join the conference it names (or the "
            "one an EndpointInvitationEvent names), publish, answer snapshot and camera "
            "requests, come back after any fault, and on SIGTERM leave and unregister. Exit 0 "
            "after a clean stop, 2 when the file or command line is invalid, 3 when the "
            "platform refused the endpoint or it gave up coming back. See docs/endpoint.md."
        ),
    )
    parser.add_argument("file", type=Path, metavar="FILE")
    parser.add_argument(
        "--check", action="store_true", help="only check the file (exit 0 valid, 2 invalid)"
    )
    parser.add_argument(
        "--health-port",
        type=int,
        metavar="PORT",
        help="serve /healthz, /readyz and /metrics (Prometheus) on this port (0: any free one)",
    )
    parser.add_argument(
        "--health-host", default="127.0.0.1", metavar="HOST", help="(default 127.0.0.1)"
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="json: one JSON object per line (secrets redacted), for journald or a collector",
    )
    add_ice_host_address_option(parser)
    return _endpoint


def load_endpoint(path: Path) -> EndpointSpec | ExitCode:
    """The file's endpoint, or the exit code after printing every problem (file:line:col)."""
    try:
        return read_yaml_model(path, EndpointSpec, NOT_A_MAPPING)
    except ScenarioError as error:
        return print_issues(path, error)


def login_of(spec: EndpointSpec, env: Mapping[str, str]) -> Callable[[], TokenProvider]:
    """How the endpoint logs in (a fresh provider per start attempt); OptionsError when the
    environment lacks what the file names."""
    if spec.ticket_env is not None:
        ticket = env.get(spec.ticket_env)
        if not ticket:
            raise OptionsError(f"no ticket: set the environment variable {spec.ticket_env}")
        return lambda: TicketLogin(ticket)
    server = spec.server
    client_id = server.client_id
    if client_id is None:
        id_env = server.client_id_env or DEFAULT_CLIENT_ID_ENV
        client_id = env.get(id_env)
        if not client_id:
            raise OptionsError(f"no client id: give server.client_id or set {id_env}")
    secret_env = server.client_secret_env or DEFAULT_CLIENT_SECRET_ENV
    secret = env.get(secret_env)
    if not secret:
        raise OptionsError(f"no client secret: set the environment variable {secret_env}")
    identity = client_id
    return lambda: ClientCredentials(identity, secret)


def _logging(log_format: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    for name in (*QUIET_LOGGERS, "aiortc", "aioice", "aiohttp.access"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _endpoint(args: argparse.Namespace) -> int:
    spec = load_endpoint(args.file)
    if isinstance(spec, ExitCode):
        return spec
    if args.check:
        print(f"{args.file}: valid: endpoint {spec.name!r} at {spec.server.url}")
        return ExitCode.PASSED
    try:
        login = login_of(spec, os.environ)
    except OptionsError as error:
        print(f"auvious-agent endpoint: {error}", file=sys.stderr)
        return ExitCode.INVALID
    from agent.endpoint.health import HealthServer
    from agent.endpoint.runner import Endpoint
    from agent.endpoint.service import StartRefused, serve_endpoint
    from agent.webrtc import seams
    from agent.webrtc.host_addresses import apply_ice_host_address_option

    _logging(args.log_format)
    if not seams.install_for_command("auvious-agent endpoint"):
        return ExitCode.RUNTIME_ERROR
    apply_ice_host_address_option(args, platform_host=urlsplit(spec.server.url).hostname)

    port = args.health_port

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, stop.set)
        return await serve_endpoint(
            lambda: Endpoint(spec, spec.server.url, login()),
            stop,
            health=None if port is None else HealthServer(None, port, args.health_host),
        )

    try:
        return run_on_chosen_loop(main())
    except StartRefused as error:
        print(f"auvious-agent endpoint: the platform refused it: {error}", file=sys.stderr)
        return ExitCode.RUNTIME_ERROR
    except Exception as error:  # a defect or an unexpected failure: one line, no traceback
        message = redact(f"runtime error: {type(error).__name__}: {error}")
        print(f"auvious-agent endpoint: {message}", file=sys.stderr)
        return ExitCode.RUNTIME_ERROR
