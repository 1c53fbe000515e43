"""A worker killed in the middle of provisioning, as a crashed Functions host would leave it.

A kill happens at one of two points of a provision: right after the runner was registered (nothing
else exists yet; its secret dies with the worker) or right after the VM was created (nothing records
it yet). The killed attempt stops there without any of its clean-up, and its queue message stays
leased: a dead host neither deletes nor releases it. The message comes back when the lease runs out
(`redeliver_after_s`, the host's lease in simulated time) and a live worker handles it again.

Killing is done by raising `WorkerKilled`, a BaseException the service does not catch, at those
two points (outside the provision step's own clean-up), and catching it in a wrapper around the
queue function so the host's bookkeeping does not run; the lease is moved with the queue's own
`retry_later`, which is what the lease expiring amounts to.
"""

from __future__ import annotations

import contextvars
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import azure.functions as func

from runner_fleet.forges import Forge
from runner_fleet.host.index import AppIndex, QueueFunction
from runner_fleet.logs import get_logger
from runner_fleet.messages import parse_provision
from runner_fleet.ports.forge import Registration, RunnerInfo, RunnerRegistry, RunnerScope
from runner_fleet.ports.queue import PROVISION_QUEUE, ReceivedMessage, WorkQueue
from runner_fleet.state.store import FleetState, JobState
from runner_fleet.state.table import StateTable

log = get_logger("bench.killer")

KillPoint = Literal["after-register", "after-vm-create"]
_CURRENT: contextvars.ContextVar[func.QueueMessage | None] = contextvars.ContextVar(
    "bench_provision_message", default=None
)


class WorkerKilled(BaseException):
    """The worker running this provision died (never caught by the service)."""


@dataclass
class Kill:
    point: KillPoint
    message_id: str
    dequeue_count: int
    job: str


@dataclass
class KillSwitch:
    """Kills the provisions that reach a kill point as the `at`-th arrival there (1-based)."""

    queue: WorkQueue
    redeliver_after_s: float
    at: dict[KillPoint, set[int]] = field(default_factory=dict)
    arrivals: dict[KillPoint, int] = field(default_factory=dict)
    kills: list[Kill] = field(default_factory=list)

    @classmethod
    def spread(cls, queue: WorkQueue, *, kills: int, jobs: int, redeliver_after_s: float) -> KillSwitch:
        """`kills` kills spread over the run, alternating between the two kill points."""
        switch = cls(queue, redeliver_after_s)
        points: tuple[KillPoint, KillPoint] = ("after-register", "after-vm-create")
        per_point = (kills + 1) // 2
        step = max(1, jobs // (per_point + 1))
        for i in range(kills):
            switch.at.setdefault(points[i % 2], set()).add(step * (i // 2 + 1))
        return switch

    async def checkpoint(self, point: KillPoint) -> None:
        message = _CURRENT.get()
        if message is None:
            return  # not inside a provision (release, reconciler): never killed
        self.arrivals[point] = self.arrivals.get(point, 0) + 1
        if self.arrivals[point] not in self.at.get(point, set()):
            return
        received = ReceivedMessage(
            id=message.id or "",
            pop_receipt=message.pop_receipt or "",
            body=message.get_body().decode("utf-8"),
            dequeue_count=message.dequeue_count or 1,
        )
        request = parse_provision(received.body)
        job = f"{request.forge}:{request.job_id}"
        # What the lease running out does: the message becomes visible again, with a new receipt.
        await self.queue.retry_later(PROVISION_QUEUE, received, delay_s=self.redeliver_after_s)
        self.kills.append(Kill(point, received.id, received.dequeue_count, job))
        log.warning("bench.worker_killed", point=point, job_id=job, message_id=received.id)
        raise WorkerKilled(point)

    def report(self) -> list[dict[str, Any]]:
        return [dataclasses.asdict(kill) for kill in self.kills]


def killable_index(index: AppIndex, switch: KillSwitch) -> AppIndex:
    """The app's HTTP routes and queue functions, the provision one wrapped; no timers (we reconcile)."""
    queues = tuple(
        dataclasses.replace(q, handler=_killable_handler(q)) if q.queue_name == PROVISION_QUEUE else q
        for q in index.queues
    )
    return AppIndex(index.http, queues, ())


def _killable_handler(function: QueueFunction) -> Callable[..., Any]:
    async def handler(**kwargs: Any) -> None:
        token = _CURRENT.set(kwargs[function.arg_name])
        try:
            await function.handler(**kwargs)
        except WorkerKilled:
            # The worker is gone: the host must neither delete nor retry the message. Its receipt
            # has already moved on, so the host's delete after this return is a no-op.
            return
        finally:
            _CURRENT.reset(token)

    return handler


class KillableState(FleetState):
    """The state table, with a kill point just before a provision records its VM."""

    def __init__(self, table: StateTable, switch: KillSwitch) -> None:
        super().__init__(table)
        self._switch = switch

    async def mark_job(self, forge: Forge, job_key: str, state: JobState, **extra: str | float | int) -> None:
        if state == "provisioned":
            await self._switch.checkpoint("after-vm-create")
        await super().mark_job(forge, job_key, state, **extra)


class KillableRegistry:
    """A forge registry, with a kill point just after a provision registered its runner."""

    def __init__(self, inner: RunnerRegistry, switch: KillSwitch) -> None:
        self._inner = inner
        self._switch = switch
        self.removes_itself_after_job = inner.removes_itself_after_job

    async def register(self, scope: RunnerScope, name: str) -> Registration:
        registration = await self._inner.register(scope, name)
        await self._switch.checkpoint("after-register")
        return registration

    async def find(self, scope: RunnerScope, name: str) -> RunnerInfo | None:
        return await self._inner.find(scope, name)

    async def get(self, scope: RunnerScope, runner_id: int) -> RunnerInfo | None:
        return await self._inner.get(scope, runner_id)

    async def remove(self, scope: RunnerScope, runner_id: int) -> bool:
        return await self._inner.remove(scope, runner_id)

    async def list_runners(self, scope: RunnerScope) -> list[RunnerInfo]:
        return await self._inner.list_runners(scope)

    def forge_url(self, scope: RunnerScope) -> str:
        return self._inner.forge_url(scope)

    async def close(self) -> None:
        await self._inner.close()


def killable_registries(
    factories: Mapping[Forge, Callable[[], RunnerRegistry]], switch: KillSwitch
) -> dict[Forge, Callable[[], RunnerRegistry]]:
    def wrap(build: Callable[[], RunnerRegistry]) -> Callable[[], RunnerRegistry]:
        return lambda: KillableRegistry(build(), switch)

    return {forge: wrap(build) for forge, build in factories.items()}
