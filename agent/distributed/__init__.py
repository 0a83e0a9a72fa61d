"""A run spread over processes and machines: one plan, and one way to stop.

The pools (`agent.load.workers.WorkerPool`, `agent.load.ray_pool.RayPool`) deal the
participants; this package sizes a run (`sizing`), makes every process draw the same plan
(`agent.scenario.seeding`, which the runner also uses for the scenario's digest), and makes
an interrupted spread run end like an interrupted single-process run
(`stopping`): everyone leaves and unregisters, and the merged report is written."""

from agent.distributed.sizing import conference_count, default_workers
from agent.distributed.stopping import (
    STOP_SIGNAL,
    Stopped,
    StopSwitch,
    ignore_terminal_interrupt,
    stop_process,
    take_back_cancel,
    until_stopped,
)
from agent.scenario.seeding import common_seed, with_seed

__all__ = [
    "STOP_SIGNAL",
    "StopSwitch",
    "Stopped",
    "common_seed",
    "conference_count",
    "default_workers",
    "ignore_terminal_interrupt",
    "stop_process",
    "take_back_cancel",
    "until_stopped",
    "with_seed",
]
