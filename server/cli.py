"""`auvious-agent serve`: the local platform on its own."""

from __future__ import annotations

import argparse
from typing import Any


def add_serve_command(sub: Any) -> Any:
    p: argparse.ArgumentParser = sub.add_parser("serve", help="run the local Auvious platform")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)

    def run(args: argparse.Namespace) -> int:
        raise SystemExit("serve: not implemented yet")

    return run
