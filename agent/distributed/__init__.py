"""A run spread over processes and machines: how its workers stop together.

The pools themselves (`agent.load.workers.WorkerPool`, `agent.load.ray_pool.RayPool`) deal
the participants; this package makes an interrupted spread run end like an interrupted
single-process run: everyone leaves and unregisters, and the merged report is written."""

from agent.distributed.stopping import (
    STOP_SIGNAL,
    Stopped,
    StopSwitch,
    ignore_terminal_interrupt,
    stop_process,
    take_back_cancel,
    until_stopped,
)

__all__ = [
    "STOP_SIGNAL",
    "StopSwitch",
    "Stopped",
    "ignore_terminal_interrupt",
    "stop_process",
    "take_back_cancel",
    "until_stopped",
]
