"""Auvious platform client side: API client, event channel, participant, scenarios.

The public API has one import place, this package: `from agent import Participant,
ClientCredentials, AuviousClient, run_scenario`. Each name is imported on first use, so
`import agent` stays cheap (the CLI's `validate` loads no media stack). The imports under
`TYPE_CHECKING` below are the one list of what is public and where it lives: type checkers
read them, and `__getattr__` follows them at run time; ruff keeps `__all__` in step."""

from __future__ import annotations

import importlib
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    # logging in and the REST API
    from agent.api.auth import ClientCredentials, TicketLogin, TokenProvider
    from agent.api.client import AuviousClient
    from agent.api.errors import ApiError
    from agent.api.models import ConferenceStreamType

    # the event channel
    from agent.events import EventChannel

    # a participant: endpoint, conference, publishing and viewing
    from agent.participant import (
        Participant,
        ParticipantMeasurements,
        Reception,
        ResumePolicy,
        RetryPolicy,
        ViewPolicy,
        synthetic_tracks,
    )

    # the process
    from agent.runtime import tune_garbage_collection

    # scenarios: load, run, judge, report
    from agent.scenario.expect import evaluate
    from agent.scenario.loader import ScenarioError, load_scenario
    from agent.scenario.model import Scenario
    from agent.scenario.report import write_reports
    from agent.scenario.results import RunResult
    from agent.scenario.runner import RunError, RunOptions, run_scenario

    # snapshots and camera requests
    from agent.snapshot import FrameTap, SnapshotRequester, SnapshotTarget

    # the process: ICE host addresses, and the seams into aiortc (docs/library.md, "Seams")
    from agent.webrtc import seams
    from agent.webrtc.host_addresses import use_host_addresses

__all__ = [
    "ApiError",
    "AuviousClient",
    "ClientCredentials",
    "ConferenceStreamType",
    "EventChannel",
    "FrameTap",
    "Participant",
    "ParticipantMeasurements",
    "Reception",
    "ResumePolicy",
    "RetryPolicy",
    "RunError",
    "RunOptions",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "SnapshotRequester",
    "SnapshotTarget",
    "TicketLogin",
    "TokenProvider",
    "ViewPolicy",
    "__version__",
    "evaluate",
    "load_scenario",
    "run_scenario",
    "seams",
    "synthetic_tracks",
    "tune_garbage_collection",
    "use_host_addresses",
    "write_reports",
]

__version__: str


def __getattr__(name: str) -> object:
    if name == "__version__":
        value: object = _version()
    elif (module := exports().get(name)) is not None:
        value = getattr(importlib.import_module(module), name)
    else:
        raise AttributeError(f"module 'agent' has no attribute {name!r}")
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


@cache
def exports() -> dict[str, str]:
    """Each public name and the module it lives in, read from this file's `TYPE_CHECKING`
    imports (the one place they are written)."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    block = next(
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    )
    return {
        alias.name: node.module
        for node in block.body
        if isinstance(node, ast.ImportFrom) and node.module is not None
        for alias in node.names
    }


def _version() -> str:
    """The installed distribution's version; a source tree never installed has none."""
    from importlib import metadata

    try:
        return metadata.version("auvious-agent")
    except metadata.PackageNotFoundError:
        return "0+unknown"
