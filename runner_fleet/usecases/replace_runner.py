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
from runner_fleet.forges import Forge
from runner_fleet.logs import get_logger
from runner_fleet.messages import PoolRunnerRequest
from runner_fleet.ports.queue import PROVISION_QUEUE, WorkQueue
from runner_fleet.settings.pool import Pool
from runner_fleet.state.pool_requests import PoolRequests
from runner_fleet.state.runner_starts import RunnerStarts
from runner_fleet.state.store import FleetState
from runner_fleet.warm.policy import pool_warm_ceiling, warm_now

log = get_logger("replace")

ReplaceOutcome = Literal["replacing", "made-for-a-job", "job-has-its-own", "no-warm-target", "unknown-pool"]


@dataclass(frozen=True)
class RunnerReplacer:
    pools: Mapping[str, Pool]
    state: FleetState
    queue: WorkQueue
    now: Callable[[], float] = time.time

    async def __call__(self, forge: Forge, pool_name: str, runner_name: str, job_id: int) -> ReplaceOutcome:
        ctx = {"forge": forge, "pool": pool_name, "runner": runner_name, "job_id": job_id}
        pool = self.pools.get(pool_name)
        if pool is None or pool.forge != forge:
            return "unknown-pool"
        now = self.now()
        # The reconciler must not retire a runner whose `busy` flag still lags behind its job.
        await RunnerStarts(self.state.table).note(forge, runner_name, job_id, now)
        if await self.state.pool_runner_key(forge, runner_name) is None:
            return "made-for-a-job"
        record = await self.state.job(forge, str(job_id))
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
