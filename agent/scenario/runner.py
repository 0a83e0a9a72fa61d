"""The entry point that runs a scenario; the CLI and tests call only `run_scenario`.

The runner itself (participants driven through their timelines, phases of arrivals,
measurements into a `RunResult`) needs the agent's participant, which is not built yet.
Until it is, `run_scenario` says so by raising `RunnerUnavailable`; it never pretends to
have run anything."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from agent.scenario.model import Scenario
from agent.scenario.results import RunResult

__all__ = ["RunError", "RunOptions", "RunnerUnavailable", "run_scenario"]


@dataclass(frozen=True)
class RunOptions:
    """How to run, from the command line; they win over the scenario's `server`.

    `server_url` None with no `server` in the scenario means the embedded local platform.
    The secret is a `SecretStr` so no repr, log line or traceback shows it."""

    server_url: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    organization_id: str | None = None
    verify_tls: bool = True
    report_dir: Path | None = None
    interactive: bool = False
    """A terminal is attached: show the live progress view instead of log lines."""


class RunError(RuntimeError):
    """The run could not go on (server unreachable, login refused); CLI exit code 3."""


class RunnerUnavailable(RunError):
    """This build has no scenario runner yet."""


async def run_scenario(scenario: Scenario, options: RunOptions) -> RunResult:
    """Run `scenario` to its end and return what was measured.

    The contract the runner must keep: on cancellation (Ctrl-C) or failure every
    participant leaves its conference, unpublishes, stops viewing and unregisters, and no
    peer connection is left open; failures of single steps are recorded in the result
    (`ParticipantResult.errors`, `StepRecord.ok`), not raised; only a failure of the run
    as a whole raises `RunError`. Expectations are not evaluated here (`expect.evaluate`)."""
    raise RunnerUnavailable(
        "running scenarios is not available yet: the scenario runner has not been built "
        "(the participant it drives is still in progress); `validate` and `schema` work"
    )
