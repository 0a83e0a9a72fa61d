"""The library versions the seams were written for; a seam installs only on those.

A private name can change in any release, so the gate is the release series the seams were
read against (aiortc 1.16.x, aioice 0.13.x, amqtt 0.12.x, and the Python versions whose asyncio
has the datagram transport `udp_reads` reaches into). On another version a seam refuses with a
message that names the library, the version found and the one expected: nothing half works.
"""

from __future__ import annotations

import functools
import importlib.metadata
import sys

__all__ = ["PYTHON", "SUPPORTED", "SeamsUnsupported", "check", "mismatch"]

SUPPORTED: dict[str, str] = {"aiortc": "1.16", "aioice": "0.13", "amqtt": "0.12"}
"""Distribution -> the release series (major.minor) the seams were written for."""
PYTHON = ((3, 11), (3, 13))
"""The Python versions (asyncio) whose private datagram transport `udp_reads` knows."""


class SeamsUnsupported(RuntimeError):
    """A seam was asked for on library versions it was not written for."""


@functools.cache
def mismatch(library: str) -> str | None:
    """Why the installed `library` ("python" or a SUPPORTED key) does not fit; None if it does."""
    if library == "python":
        found = sys.version_info[:2]
        if PYTHON[0] <= found <= PYTHON[1]:
            return None
        low, high = (".".join(map(str, v)) for v in PYTHON)
        return f"Python {found[0]}.{found[1]} is installed; asyncio's seam knows {low} to {high}"
    series = SUPPORTED[library]
    try:
        found_version = importlib.metadata.version(library)
    except importlib.metadata.PackageNotFoundError:
        return f"{library} is not installed; the seams need {series}.x"
    if found_version == series or found_version.startswith(series + "."):
        return None
    return f"{library} {found_version} is installed; the seams were written for {series}.x"


def check(*libraries: str) -> None:
    """SeamsUnsupported naming every library of `libraries` whose installed version does not fit."""
    problems = [m for m in (mismatch(library) for library in libraries) if m is not None]
    if problems:
        raise SeamsUnsupported(
            "; ".join(problems) + ": install the versions pyproject.toml pins (scripts/bootstrap)"
        )
