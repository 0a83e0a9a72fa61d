"""Which local addresses ICE gathers host candidates on, for every peer connection of the process.

aioice gathers on every interface except loopback (it skips 127.0.0.1 and ::1), so by default a
machine with only loopback gets no host candidates, tests leave the machine's own interfaces,
and a load tester cannot choose a NIC. aiortc gives no option for it; the one lever is here.

The choice is applied through the seam "host_addresses" (`agent.webrtc.seams.ice`), which
`use_host_addresses` and `scoped_host_addresses` install, as do the CLI, the embedded
platform's router and a participant's start (`agent.webrtc.seams.install()`); importing installs
nothing. With it, what aioice gathers on is, in order of precedence:
1. the addresses of `scoped_host_addresses()` for the code running inside it (a contextvar, so
   it follows the asyncio tasks aiortc spawns to gather), then
2. the process's choice of `use_host_addresses()`, then
3. aioice's own discovery (what `use_host_addresses(None)` restores).
Each connection's `use_ipv4`/`use_ipv6` switches still filter the chosen addresses.

At import the process's choice is read from `AUVIOUS_ICE_HOST_ADDRESSES` (comma-separated), so
subprocesses (an `auvious-agent serve` started by a test or a benchmark) follow their parent:
`use_host_addresses(..., subprocesses=True)` writes it.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import os
from collections.abc import Iterator, Sequence
from contextvars import ContextVar

from agent.ice_addresses import (
    HOST_ADDRESSES_ENV,
    add_ice_host_address_option,
    host_addresses_from_env,
    parse_host_addresses,
)
from agent.webrtc.seams import install
from agent.webrtc.seams.ice import aioice_host_addresses, choose_host_addresses_with

__all__ = [
    "HOST_ADDRESSES_ENV",
    "LOOPBACK",
    "add_ice_host_address_option",
    "apply_ice_host_address_option",
    "chosen_host_addresses",
    "host_addresses_from_env",
    "is_loopback",
    "parse_host_addresses",
    "scoped_host_addresses",
    "use_host_addresses",
    "with_loopback",
]

LOOPBACK: tuple[str, ...] = ("127.0.0.1",)
"""Media that never leaves this machine: what tests, benchmarks and loopback pairs use."""

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
    if choice is not None:
        install(["host_addresses"])
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
    install(["host_addresses"])
    token = _scoped_choice.set(chosen)
    try:
        yield chosen
    finally:
        _scoped_choice.reset(token)


def apply_ice_host_address_option(
    args: argparse.Namespace, *, local: bool = False, platform_host: str | None = None
) -> None:
    """Make the command line's addresses the process's choice, for its subprocesses too.

    With no choice made (no option, no `AUVIOUS_ICE_HOST_ADDRESSES`), loopback is added where
    aioice's default would skip it and nothing could connect on a host whose only interface is
    loopback. `local`: every party runs on this machine (the embedded platform): loopback only.
    `platform_host`: the platform is reached at this host (`run --server`) or listens there
    (`serve --host`); when it is a loopback address, ICE gathers on loopback beside aioice's own
    discovery, so a platform forwarded to this machine from elsewhere still connects."""
    addresses: list[str] | None = getattr(args, "ice_host_addresses", None)
    if addresses:
        use_host_addresses(addresses, subprocesses=True)
    elif _process_choice is not None:
        return
    elif local:
        use_host_addresses(LOOPBACK, subprocesses=True)
    elif platform_host is not None and is_loopback(platform_host):
        use_host_addresses(with_loopback(), subprocesses=True)


def is_loopback(host: str) -> bool:
    """`localhost`, or an address in 127.0.0.0/8 or ::1."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def with_loopback() -> tuple[str, ...]:
    """Loopback, then the addresses aioice's own discovery finds."""
    found = aioice_host_addresses(use_ipv4=True, use_ipv6=True)
    return tuple(dict.fromkeys([*LOOPBACK, *found]))


def _chosen() -> tuple[str, ...] | None:
    return _scoped_choice.get() or _process_choice


choose_host_addresses_with(_chosen)
_process_choice = host_addresses_from_env()
