"""Which local addresses ICE gathers host candidates on, for every peer connection of the process.

aioice gathers on every interface except loopback (it skips 127.0.0.1 and ::1), so by default a
machine with only loopback gets no host candidates, tests leave the machine's own interfaces,
and a load tester cannot choose a NIC. aiortc gives no option for it; the one lever is here.

`aioice.Connection.gather_candidates` calls `get_host_addresses(use_ipv4=..., use_ipv6=...)`,
looked up as a global of `aioice.ice` at call time (aioice 0.13). Importing this module replaces
that global, once, with `_gathered_host_addresses`, which answers, in order of precedence:
1. the addresses of `scoped_host_addresses()` for the code running inside it (a contextvar, so
   it follows the asyncio tasks aiortc spawns to gather), then
2. the process's choice of `use_host_addresses()`, then
3. aioice's own discovery (what `use_host_addresses(None)` restores).
Each connection's `use_ipv4`/`use_ipv6` switches still filter the chosen addresses.

At import the process's choice is read from `AUVIOUS_ICE_HOST_ADDRESSES` (comma-separated), so
subprocesses (an `auvious-agent serve` started by a test or a benchmark) follow their parent:
`use_host_addresses(..., subprocesses=True)` writes it. Importing `agent.webrtc` (the agent) or
`server.media.router` (the router) imports this module.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
import socket
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar

import aioice.ice

__all__ = [
    "HOST_ADDRESSES_ENV",
    "LOOPBACK",
    "add_ice_host_address_option",
    "apply_ice_host_address_option",
    "chosen_host_addresses",
    "host_addresses_from_env",
    "parse_host_addresses",
    "scoped_host_addresses",
    "use_host_addresses",
]

HOST_ADDRESSES_ENV = "AUVIOUS_ICE_HOST_ADDRESSES"
LOOPBACK: tuple[str, ...] = ("127.0.0.1",)
"""Media that never leaves this machine: what tests, benchmarks and loopback pairs use."""

_AIOICE_DISCOVERY = aioice.ice.get_host_addresses
_process_choice: tuple[str, ...] | None = None
_scoped_choice: ContextVar[tuple[str, ...] | None] = ContextVar(
    "auvious_ice_host_addresses", default=None
)


def parse_host_addresses(addresses: Iterable[str], source: str) -> tuple[str, ...]:
    """Validated, normalized, de-duplicated addresses; ValueError naming `source` otherwise.

    Each must be a unicast IP literal this machine can bind a UDP socket to: an address that is
    not local would otherwise only show up as a peer connection that never connects.
    """
    if isinstance(addresses, str):
        raise TypeError(f"{source}: give a list of addresses, not one string")
    result: list[str] = []
    for text in addresses:
        try:
            address = _checked_address(text.strip())
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from None
        if address not in result:
            result.append(address)
    if not result:
        raise ValueError(f"{source}: no address given (None restores aioice's own discovery)")
    return tuple(result)


def use_host_addresses(addresses: Sequence[str] | None, *, subprocesses: bool = False) -> None:
    """Gather host candidates on `addresses` only, in every peer connection made from now on.

    None restores aioice's discovery. With `subprocesses`, the choice is also written to (or, for
    None, removed from) this process's environment, so processes started later follow it.
    """
    global _process_choice
    choice = None if addresses is None else parse_host_addresses(addresses, "ICE host addresses")
    _process_choice = choice
    if subprocesses:
        if choice is None:
            os.environ.pop(HOST_ADDRESSES_ENV, None)
        else:
            os.environ[HOST_ADDRESSES_ENV] = ",".join(choice)


def chosen_host_addresses() -> tuple[str, ...] | None:
    """The process's choice (None: aioice's discovery), e.g. to restore it after a change."""
    return _process_choice


@contextlib.contextmanager
def scoped_host_addresses(addresses: Sequence[str]) -> Iterator[tuple[str, ...]]:
    """Gather on `addresses` only for peer connections negotiated inside this block (and the
    tasks it starts), whatever the process's choice: for pairs that are loopback by design."""
    chosen = parse_host_addresses(addresses, "ICE host addresses")
    token = _scoped_choice.set(chosen)
    try:
        yield chosen
    finally:
        _scoped_choice.reset(token)


def host_addresses_from_env(environ: Mapping[str, str] = os.environ) -> tuple[str, ...] | None:
    """The addresses of `AUVIOUS_ICE_HOST_ADDRESSES`; None when unset or blank."""
    text = environ.get(HOST_ADDRESSES_ENV, "")
    if not text.strip():
        return None
    return parse_host_addresses(text.split(","), HOST_ADDRESSES_ENV)


def add_ice_host_address_option(parser: argparse.ArgumentParser) -> None:
    """`--ice-host-address ADDR` (repeatable), for every command that makes peer connections."""
    parser.add_argument(
        "--ice-host-address",
        action="append",
        dest="ice_host_addresses",
        type=_address_argument,
        metavar="ADDR",
        help="a local IP address ICE gathers host candidates on (repeatable), e.g. 127.0.0.1 to "
        f"keep media on this machine; default ${HOST_ADDRESSES_ENV} (comma-separated), else "
        "every interface except loopback",
    )


def apply_ice_host_address_option(args: argparse.Namespace) -> None:
    """Make the command line's addresses the process's choice, for its subprocesses too."""
    addresses: list[str] | None = getattr(args, "ice_host_addresses", None)
    if addresses:
        use_host_addresses(addresses, subprocesses=True)


def _address_argument(text: str) -> str:
    try:
        return _checked_address(text.strip())
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _checked_address(text: str) -> str:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address") from None
    if address.is_unspecified or address.is_multicast:
        raise ValueError(f"{text} is not a unicast address of an interface")
    family = socket.AF_INET if address.version == 4 else socket.AF_INET6
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((str(address), 0))
    except OSError as error:
        raise ValueError(f"cannot use {address}: {error.strerror}") from None
    return str(address)


def _gathered_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    """What aioice gathers on; same signature as `aioice.ice.get_host_addresses`."""
    chosen = _scoped_choice.get() or _process_choice
    if chosen is None:
        return _AIOICE_DISCOVERY(use_ipv4=use_ipv4, use_ipv6=use_ipv6)
    return [
        address
        for address in chosen
        if (use_ipv4 if ipaddress.ip_address(address).version == 4 else use_ipv6)
    ]


aioice.ice.get_host_addresses = _gathered_host_addresses
use_host_addresses(host_addresses_from_env())
