"""The workers of a run as Ray actors across a cluster (`auvious-agent run FILE --ray ADDRESS`,
the `scale` extra): the same shards, live snapshots and merged result as `WorkerPool`, with
Ray placing the processes on the cluster's nodes.

The job travels to the actors through Ray's object store (with the run's client secret in a
`SecretStr`: never on a command line or in a log). The platform must be reachable from every
node: with `--ray` and no `--server`, the local platform the coordinator starts listens on
127.0.0.1, which is only right for a cluster on this machine.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import Callable
from typing import Any

from agent.distributed.stopping import StopSwitch, take_back_cancel
from agent.load.workers import START_MARGIN, STOP_TIMEOUT, Shard, WorkerJob, merge_outcomes
from agent.runtime import run_on_chosen_loop, tune_garbage_collection
from agent.scenario.live import LiveSnapshot, combine
from agent.scenario.results import RunResult
from agent.webrtc.host_addresses import chosen_host_addresses, use_host_addresses

__all__ = ["RayPool", "RayUnavailable"]

LIVE_POLL = 1.0
STOP_CALL_TIMEOUT = 10.0


class RayUnavailable(RuntimeError):
    """Ray is not installed (`pip install auvious-agent[scale]`) or the cluster is unreachable."""


class _ShardActor:
    """One worker: runs the job in its own event loop; `live()` and `stop()` answer
    meanwhile (the actor is threaded, so the calls run side by side)."""

    def __init__(self) -> None:
        self.latest: LiveSnapshot | None = None
        self.switch = StopSwitch()
        tune_garbage_collection()  # the actor's process carries the shard's participants

    def run(
        self,
        job: WorkerJob,
        shard: Shard,
        start_at: float,
        addresses: tuple[str, ...] | None = None,
    ) -> str:
        """Run `shard` of `job` from `start_at`; `addresses`: the coordinator's ICE host
        addresses (an actor does not inherit its environment, as a worker process does)."""
        if addresses is not None:
            use_host_addresses(addresses)

        def live(snapshot: LiveSnapshot) -> None:
            self.latest = snapshot

        async def main() -> RunResult:
            await asyncio.sleep(max(0.0, start_at - time.time()))
            return await job(shard, live)

        return run_on_chosen_loop(self.switch.run(main())).model_dump_json()

    def live(self) -> LiveSnapshot | None:
        return self.latest

    def node(self) -> str:
        """The Ray node this actor runs on (answering also says it is up)."""
        ray: Any = importlib.import_module("ray")
        return str(ray.get_runtime_context().get_node_id())

    def stop(self) -> None:
        """Ctrl-C at the coordinator: the job closes its participants and returns."""
        self.switch.stop()


class RayPool:
    """`count` actors on the Ray cluster at `address`, one shard each; `fit_cluster`: at
    most one per CPU of the cluster. `on_placed` hears each actor's node once all are up."""

    def __init__(
        self,
        job: WorkerJob,
        count: int,
        address: str,
        fit_cluster: bool = False,
        on_placed: Callable[[list[str]], None] | None = None,
    ) -> None:
        if count < 1:
            raise ValueError(f"workers must be >= 1, got {count}")
        self.job = job
        self.count = count
        self.address = address
        self.fit_cluster = fit_cluster
        self.on_placed = on_placed
        self.nodes: list[str] = []
        """The node of each actor, once they are up."""
        self.latest: dict[int, LiveSnapshot] = {}

    async def live(self) -> LiveSnapshot:
        return combine(list(self.latest.values()))

    async def run(self) -> RunResult:
        try:
            ray: Any = importlib.import_module("ray")  # optional: the `scale` extra
        except ImportError:
            raise RayUnavailable(
                "--ray needs Ray: scripts/bootstrap scale in a checkout, "
                "else pip install 'auvious-agent[scale]'"
            ) from None
        await _reachable(self.address)
        try:
            ray.init(address=self.address, logging_level="WARNING", log_to_driver=False)
        except Exception as error:  # ConnectionError and Ray's own errors alike
            raise RayUnavailable(
                f"cannot reach the Ray cluster at {self.address}: {error}"
            ) from None
        try:
            if self.fit_cluster:
                cpus = int(ray.cluster_resources().get("CPU", self.count))
                self.count = max(1, min(self.count, cpus))
            actor_class = ray.remote(max_concurrency=2, num_cpus=0)(_ShardActor)
            placements = _spread(ray, self.count)
            actors = [
                actor_class.options(scheduling_strategy=placement).remote()
                for placement in placements
            ]
            # Every actor up before the common start is chosen: starting one takes a while.
            self.nodes = list(await asyncio.gather(*(actor.node.remote() for actor in actors)))
            if self.on_placed is not None:
                self.on_placed(self.nodes)
            start_at = time.time() + START_MARGIN
            addresses = chosen_host_addresses()  # `--ice-host-address`, or the run's default
            runs = [
                actor.run.remote(self.job, Shard(index, self.count), start_at, addresses)
                for index, actor in enumerate(actors)
            ]
            poller = asyncio.get_running_loop().create_task(self._poll(actors))
            # Futures of their own: a Ctrl-C must not cancel the waits for the results.
            futures = [asyncio.wrap_future(run.future()) for run in runs]
            interrupted = False
            try:
                await asyncio.wait(futures)
            except asyncio.CancelledError:  # Ctrl-C: every actor closes its participants
                interrupted = True
                take_back_cancel()
                stops = [asyncio.wrap_future(actor.stop.remote().future()) for actor in actors]
                await asyncio.wait(stops, timeout=STOP_CALL_TIMEOUT)
                await asyncio.wait(futures, timeout=STOP_TIMEOUT)
            finally:
                poller.cancel()
            return merge_outcomes(
                [self._outcome(index, future) for index, future in enumerate(futures)],
                interrupted,
            )
        finally:
            ray.shutdown()

    def _outcome(self, index: int, future: asyncio.Future[Any]) -> RunResult | str:
        """A worker's result, or why it has none."""
        if not future.done():
            return f"worker {index}/{self.count} did not stop in {STOP_TIMEOUT:g} s"
        error = future.exception()
        if error is not None:
            return f"worker {index}/{self.count} failed: {_one_line(error)}"
        return RunResult.model_validate_json(future.result())

    async def _poll(self, actors: list[Any]) -> None:
        while True:
            await asyncio.sleep(LIVE_POLL)
            answers = await asyncio.gather(
                *(actor.live.remote() for actor in actors), return_exceptions=True
            )
            for index, answer in enumerate(answers):
                if isinstance(answer, LiveSnapshot):
                    self.latest[index] = answer


async def _reachable(address: str, within: float = 5.0) -> None:
    """Fail fast on a cluster that is not there: `ray.init` would retry for minutes."""
    host, colon, port = address.rpartition(":")
    if not colon or not port.isdigit() or "://" in address:
        return  # "auto", "ray://...": left to Ray
    try:
        async with asyncio.timeout(within):
            _, writer = await asyncio.open_connection(host, int(port))
        writer.close()
    except (OSError, TimeoutError) as error:
        reason = "no answer" if isinstance(error, TimeoutError) else error.strerror or str(error)
        raise RayUnavailable(f"cannot reach the Ray cluster at {address}: {reason}") from None


def _one_line(error: BaseException) -> str:
    cause = getattr(error, "cause", None) or error
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[-1] if text else ''}"


def _spread(ray: Any, count: int) -> list[Any]:
    """One placement per actor, round-robin over the alive nodes that have CPUs.

    Ray's "SPREAD" is best effort, and for actors that reserve no CPU it often stacks them on
    one node: a load run would then load one machine of the cluster. Soft node affinity was
    seen stacking them too, so the affinity is hard; the nodes were alive a moment ago.
    """
    strategies = importlib.import_module("ray.util.scheduling_strategies")
    nodes = sorted(
        node["NodeID"]
        for node in ray.nodes()
        if node.get("Alive") and node.get("Resources", {}).get("CPU", 0) > 0
    )
    if not nodes:
        return ["SPREAD"] * count
    return [
        strategies.NodeAffinitySchedulingStrategy(node_id=nodes[index % len(nodes)], soft=False)
        for index in range(count)
    ]
