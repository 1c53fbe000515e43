"""A job started on one of our runners: note it, and replace the runner if it was a warm one.

The pool held that runner ready for whichever job came; now a job has it, the pool is one short of
its warm target until another is made. Usually the job's own provision has made that other one
already (it asked the forge while the job still waited, and its runner now waits for the next job);
only a job taken before its provision asked needs a replacement of its own. The replacement's key
is derived from the runner taken, so a start reported twice (GitHub's `in_progress` redelivered,
GitLab's `running` and the reconciler both deregistering) asks for one replacement, not two.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from runner_fleet import naming
from runner_fleet.events.base import queued_to_running
from runner_fleet.forges import Forge
from runner_fleet.logs import get_logger
from runner_fleet.messages import PoolRunnerRequest
from runner_fleet.ports.queue import PROVISION_QUEUE, WorkQueue
from runner_fleet.settings.pool import Pool
from runner_fleet.state.pool_requests import PoolRequests
from runner_fleet.state.runner_starts import RunnerStarts
from runner_fleet.state.store import FleetState
from runner_fleet.state.table import Record, number
from runner_fleet.state.usage import UsageLog
from runner_fleet.telemetry import metrics, traces
from runner_fleet.warm.policy import pool_warm_ceiling, warm_now

log = get_logger("replace")

ReplaceOutcome = Literal["replacing", "made-for-a-job", "job-has-its-own", "no-warm-target", "unknown-pool"]


@dataclass(frozen=True)
class RunnerReplacer:
    pools: Mapping[str, Pool]
    state: FleetState
    queue: WorkQueue
    now: Callable[[], float] = time.time

    async def __call__(
        self,
        forge: Forge,
        pool_name: str,
        runner_name: str,
        job_id: int,
        *,
        job_queued_at: float | None = None,
        job_started_at: float | None = None,
    ) -> ReplaceOutcome:
        """`job_queued_at`, `job_started_at`: when the forge's hook says the job was queued and started."""
        ctx = {"forge": forge, "pool": pool_name, "runner": runner_name, "job_id": job_id}
        pool = self.pools.get(pool_name)
        if pool is None or pool.forge != forge:
            return "unknown-pool"
        now = self.now()
        # The reconciler must not retire a runner whose `busy` flag still lags behind its job.
        await RunnerStarts(self.state.table).note(forge, runner_name, job_id, now)
        record = await self.state.job(forge, str(job_id))
        # For the runner's usage row: its job's wait and busy time, by the forge's hook where it said
        # (a job a warm runner took before its provision claimed it has no claim), else our own times.
        queued_at = job_queued_at if job_queued_at is not None else _stamp(record, "queued_at")
        await UsageLog(self.state.table).note_start(
            forge,
            runner_name,
            str(job_id),
            at=job_started_at if job_started_at is not None else now,
            queued_at=queued_at,
        )
        pool_key = await self.state.pool_runner_key(forge, runner_name)
        if metrics.enabled():
            times = (job_queued_at, job_started_at)
            await self._observe_start(
                pool, runner_name, job_id, pool_key=pool_key, record=record, forge_times=times, now=now
            )
        if pool_key is None:
            return "made-for-a-job"
        if record is not None and record.data.get("state") in ("provisioning", "provisioned"):
            # The job's own provision made (or is making) a runner, which now has no job to wait for:
            # it is the replacement, and a second one would be a runner too many.
            return "job-has-its-own"
        warm = warm_now(pool, now)
        # Adaptive pools size their target each reconcile round; between rounds a replacement keeps
        # what was there (the round retires a surplus), up to the most the pool may hold warm.
        target = pool_warm_ceiling(pool) if warm.mode == "auto" else warm.target
        if target <= 0:
            return "no-warm-target"
        key = f"r-{runner_name}"
        request = PoolRunnerRequest(forge=forge, pool=pool.name, key=key, reason="replace")
        await self.queue.send(PROVISION_QUEUE, request.to_json())
        # So the reconciler counts it as coming until its provision claims it.
        replacement = naming.pool_runner_name(pool.name, forge, key)
        await PoolRequests(self.state.table).note(forge, pool.name, key, replacement, now)
        log.info("runner.replacing", **ctx)
        return "replacing"

    async def _observe_start(
        self,
        pool: Pool,
        runner_name: str,
        job_id: int,
        *,
        pool_key: str | None,
        record: Record | None,
        forge_times: tuple[float | None, float | None],
        now: float,
    ) -> None:
        """The job's start for the metrics: its wait, and its runner's last startup phases.

        The wait is the forge's (queued to running, its clock; else the job's claim to now). The
        runner came online when first seen so: idle by a reconcile round, else at this start (a
        runner that took a job before any round saw it has no online-to-started of its own); its VM
        ran from when a create step read it `Succeeded`. Known for a runner made for this job or for
        the pool; a runner another job's provision made has its claim under that job.
        """
        queued, started = forge_times
        if queued is None or started is None:
            queued, started = _stamp(record, "queued_at"), now  # without the forge's times, our own
        wait_s = queued_to_running(queued, started)
        metrics.job_started(pool.forge, pool.name, warm=pool_key is not None, wait_s=wait_s)
        own = naming.runner_name(pool.name, pool.forge, str(job_id)) == runner_name
        if pool_key is None and not own:
            return
        claim = record if pool_key is None else await self.state.job(pool.forge, pool_key)
        idle = await self.state.idle_since_of(runner_name)
        online = min(idle, now) if idle is not None else now
        running = _stamp(claim, "running_at")
        if running is not None and running <= online:
            metrics.startup_phase(pool.name, "running-to-online", online - running)
            attributes: traces.Attributes = {
                traces.RUNNER: runner_name,
                traces.POOL: pool.name,
                "runner_fleet.warm": pool_key is not None,
            }
            traces.finished_job_span(
                "runner.online", pool.forge, job_id, start_s=running, end_s=online, attributes=attributes
            )
        if idle is not None:
            metrics.startup_phase(pool.name, "online-to-started", now - online)


def _stamp(record: Record | None, name: str) -> float | None:
    return number(record.data.get(name)) if record is not None else None
