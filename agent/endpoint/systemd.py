"""systemd's notification protocol (sd_notify) in a few lines: `READY=1` once the endpoint is
ready, `WATCHDOG=1` while its loop runs, `STATUS=...`, `STOPPING=1`. Only when systemd asks
for it (`NOTIFY_SOCKET`, `WATCHDOG_USEC` in the environment of a `Type=notify` unit)."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Mapping

__all__ = ["notify", "watchdog_interval"]


def notify(message: str, env: Mapping[str, str] = os.environ) -> bool:
    """Send `message` (e.g. "READY=1\\nSTATUS=in conference") to systemd; False when not run
    by systemd (no NOTIFY_SOCKET) or the socket refused it."""
    path = env.get("NOTIFY_SOCKET")
    if not path:
        return False
    if path.startswith("@"):  # an abstract socket
        path = "\0" + path[1:]
    with (
        contextlib.suppress(OSError),
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock,
    ):
        sock.connect(path)
        sock.sendall(message.encode())
        return True
    return False


def watchdog_interval(env: Mapping[str, str] = os.environ) -> float | None:
    """Seconds between `WATCHDOG=1` pings: half of `WatchdogSec` (WATCHDOG_USEC), as systemd
    advises; None when no watchdog is set for this process."""
    usec = env.get("WATCHDOG_USEC")
    pid = env.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(0.05, int(usec) / 2e6)
    except ValueError:
        return None
