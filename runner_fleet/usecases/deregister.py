"""Deregister: a job started on one of our GitLab runners; delete the runner's registration now.

A `glrt-` token takes any further pending job its tags fit, with that job's CI variables, for as
long as its runner exists (GitLab's `POST /jobs/request` does not know about `--max-builds 1`).
Once its one job is assigned, the runner needs only that job's own token: GitLab authenticates job
updates, traces and artifacts with it (`authenticate_job!` in lib/api/ci/helpers/runner.rb) and
nullifies a deleted runner's reference on its jobs without stopping them
(config/gitlab_loose_foreign_keys.yml). So the registration goes as soon as the job starts, and
the VM keeps running its job; the job's end releases the VM as usual.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from runner_fleet import naming
from runner_fleet.forges import Forge
from runner_fleet.logs import get_logger
from runner_fleet.messages import DeregisterRequest
from runner_fleet.ports.forge import RunnerRegistry, RunnerScope
from runner_fleet.settings.pool import Pool
from runner_fleet.state.store import FleetState
from runner_fleet.usecases.replace_runner import RunnerReplacer

log = get_logger("deregister")

Outcome = Literal["deregistered", "already-gone", "unknown-pool"]


@dataclass(frozen=True)
class DeregisterResult:
    outcome: Outcome


@dataclass(frozen=True)
class Deregisterer:
    pools: Mapping[str, Pool]
    state: FleetState
    registries: Mapping[Forge, RunnerRegistry]
    # A warm runner that took a job is replaced (the job's start is also what the reconciler needs).
    replacer: RunnerReplacer | None = None

    async def __call__(self, request: DeregisterRequest) -> DeregisterResult:
        ctx = {
            "forge": request.forge,
            "pool": request.pool,
            "job_id": request.job_id,
            "runner": request.runner_name,
            "runner_id": request.runner_id,
        }
        pool = self.pools.get(request.pool)
        if pool is None or naming.pool_of(request.runner_name) != pool.name:
            log.warning("deregister.unknown_pool", **ctx)
            return DeregisterResult("unknown-pool")
        # The webhook bound it already; the reconciler's path comes here without a webhook.
        await self.state.bind_job(
            request.forge, str(request.job_id), runner_name=request.runner_name, runner_id=request.runner_id
        )
        registry = self.registries[request.forge]
        removed = await registry.remove(RunnerScope.of_pool(pool), request.runner_id)
        log.info("runner.deregistered", **ctx, removed=removed, reason="its job started")
        if self.replacer is not None:
            await self.replacer(
                request.forge,
                pool.name,
                request.runner_name,
                request.job_id,
                job_queued_at=request.job_queued_at,
                job_started_at=request.job_started_at,
            )
        return DeregisterResult("deregistered" if removed else "already-gone")
