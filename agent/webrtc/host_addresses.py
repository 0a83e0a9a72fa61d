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
from collections.abc import Iterator, Sequence
from contextvars import ContextVar

import aioice.ice

from agent.ice_addresses import (
    HOST_ADDRESSES_ENV,
    add_ice_host_address_option,
    host_addresses_from_env,
    parse_host_addresses,
)

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

LOOPBACK: tuple[str, ...] = ("127.0.0.1",)
"""Media that never leaves this machine: what tests, benchmarks and loopback pairs use."""

_AIOICE_DISCOVERY = aioice.ice.get_host_addresses
_process_choice: tuple[str, ...] | None = None
_scoped_choice: ContextVar[tuple[str, ...] | None] = ContextVar(
    "auvious_ice_host_addresses", default=None
)


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


def apply_ice_host_address_option(args: argparse.Namespace, *, local: bool = False) -> None:
    """Make the command line's addresses the process's choice, for its subprocesses too.

    `local`: every party runs on this machine (the embedded platform), so with no choice made
    (no option, no `AUVIOUS_ICE_HOST_ADDRESSES`) ICE gathers on loopback: aioice's default
    skips it, and on a host whose only interface is loopback nothing would connect at all."""
    addresses: list[str] | None = getattr(args, "ice_host_addresses", None)
    if addresses:
        use_host_addresses(addresses, subprocesses=True)
    elif local and _process_choice is None:
        use_host_addresses(LOOPBACK, subprocesses=True)


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
