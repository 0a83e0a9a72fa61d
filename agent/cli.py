"""The `auvious-agent` command line: one subcommand per job."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

Command = Callable[[argparse.Namespace], int]


def _build_parser() -> tuple[argparse.ArgumentParser, dict[str, Command]]:
    parser = argparse.ArgumentParser(
        prog="auvious-agent",
        description="A headless, scriptable participant for Auvious video conferences.",
    )
    from agent import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands: dict[str, Command] = {}

    from agent.endpoint.cli import add_endpoint_command
    from agent.load.scenario_job import add_merge_command
    from agent.scenario.cli import add_scenario_commands
    from agent.scenario.compare import add_compare_command
    from server.cli import add_serve_command

    commands.update(add_scenario_commands(sub))
    commands["merge"] = add_merge_command(sub)
    commands["compare"] = add_compare_command(sub)
    commands["serve"] = add_serve_command(sub)
    commands["endpoint"] = add_endpoint_command(sub)
    return parser, commands


def main(argv: Sequence[str] | None = None) -> int:
    from agent.ice_addresses import host_addresses_from_env
    from agent.redact import install_redaction
    from agent.runtime import tune_garbage_collection

    install_redaction()  # before anything logs: secrets never reach a log line
    tune_garbage_collection()  # run and serve carry many peer connections per process
    try:
        # Checked here, as every peer connection of the process would apply it: a command
        # imports aiortc (which applies it) only when it needs to.
        host_addresses_from_env()
        parser, commands = _build_parser()
    except ValueError as error:  # a bad setting: AUVIOUS_ICE_HOST_ADDRESSES
        print(f"auvious-agent: {error}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return commands[args.command](args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
