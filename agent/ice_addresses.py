"""The local addresses ICE may gather on, as the command line and the environment give them.

Apart from `agent.webrtc.host_addresses`, which applies them, so that a command line can offer
and check the option without importing aiortc (`auvious-agent validate` stays fast)."""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
from collections.abc import Iterable, Mapping

__all__ = [
    "HOST_ADDRESSES_ENV",
    "add_ice_host_address_option",
    "host_addresses_from_env",
    "parse_host_addresses",
]

HOST_ADDRESSES_ENV = "AUVIOUS_ICE_HOST_ADDRESSES"


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
        "127.0.0.1 for a run on the embedded platform, else every interface except loopback",
    )


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
