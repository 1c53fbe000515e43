"""Release: a job ended; delete the VM of the runner that ran it and its registration if still there.

Where the forge can be asked, the job's end is confirmed first; a release without a runner
only settles the job, so that no provision still in the queue makes a VM for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from runner_fleet import naming
from runner_fleet.cost.metering import Metering
from runner_fleet.forges import Forge
from runner_fleet.logs import get_logger
from runner_fleet.messages import ReleaseRequest
from runner_fleet.ports.compute import MANAGED_BY, TAG_MANAGED_BY, Compute
from runner_fleet.ports.forge import RunnerBusy, RunnerRegistry, RunnerScope
from runner_fleet.ports.jobs import FINISHED, JobResolver
from runner_fleet.settings.pool import Pool
from runner_fleet.state.store import FleetState
from runner_fleet.state.usage import Usage
from runner_fleet.telemetry import metrics, traces

log = get_logger("release")


ReleaseOutcome = Literal["released", "settled", "not-confirmed", "not-ours", "unknown-pool"]


@dataclass(frozen=True)
class ReleaseResult:
    vm_deleted: bool
    registration_removed: bool
    outcome: ReleaseOutcome
    # What the VM used and cost, when this release deleted it and wrote its usage (once per VM).
    usage: Usage | None = None


@dataclass(frozen=True)
class Releaser:
    pools: Mapping[str, Pool]
    state: FleetState
    compute: Compute
    registries: Mapping[Forge, RunnerRegistry]
    # Per forge, a way to ask whether a job has really ended. A webhook's word is not enough where
    # only a shared token guards it (GitLab): a forged `success` would delete a VM mid-deploy, a
    # forged `canceled` would mark a waiting job done so that nothing ever serves it.
    confirmers: Mapping[Forge, JobResolver] = field(default_factory=dict)
    # Writes each deleted VM's usage row (VM time, cost); None: nothing is metered.
    metering: Metering | None = None

    async def __call__(self, request: ReleaseRequest) -> ReleaseResult:
        # The last step of the job's trace, under the webhook that said it ended.
        attributes = {traces.POOL: request.pool, traces.RUNNER: request.runner_name}
        with traces.job_span(
            "release", request.forge, request.job_id, traceparent=request.traceparent, attributes=attributes
        ) as span:
            result = await self._release(request)
            traces.set_attributes(span, outcome=result.outcome, vm_deleted=result.vm_deleted)
        if result.outcome == "released":
            metrics.job_completed(request.forge, request.pool, request.conclusion)
        return result

    async def _release(self, request: ReleaseRequest) -> ReleaseResult:
        ctx = {
            "forge": request.forge,
            "pool": request.pool,
            "job_id": request.job_id,
            "runner": request.runner_name,
        }
        if not await self._confirmed(request, ctx):
            return ReleaseResult(False, False, "not-confirmed")
        # The job is over whichever runner ran it: a provision for it still in the queue must not run.
        await self.state.settle_job(request.forge, str(request.job_id))
        if not request.runner_name:
            log.info("job.settled", **ctx)
            return ReleaseResult(False, False, "settled")
        pool = self.pools.get(request.pool)
        if pool is None or naming.pool_of(request.runner_name) != pool.name:
            log.warning("release.unknown_pool", **ctx)
            return ReleaseResult(False, False, "unknown-pool")

        vm = await self.compute.get_vm(pool, request.runner_name)
        if vm is not None and vm.tags.get(TAG_MANAGED_BY) != MANAGED_BY:
            # A VM with our naming pattern that we did not tag: never delete what is not ours.
            log.warning("release.not_ours", **ctx)
            return ReleaseResult(False, False, "not-ours")
        vm_deleted, usage = False, None
        if vm is not None:
            # Without waiting for Azure to finish: the worker is free at once, and the VM reads
            # Deleting until it is gone, which every reader takes as going away.
            vm_deleted = await self.compute.delete_vm(pool, request.runner_name, wait=False)
            log.info("vm.deleted", **ctx, existed=vm_deleted)
            if self.metering is not None:
                usage = await self.metering.deleted(pool, request.forge, vm, ctx, job=str(request.job_id))
            created_for = vm.tags.get("job")
            if created_for and created_for != str(request.job_id):
                # Runners are interchangeable: this one ran another job, so the job it was made for may
                # still be waiting. Reopened only once its delete is accepted, so a provision for it
                # finds the dying VM going away, not its runner (and if we die in between, the
                # reconciler sees a provisioned job without a runner and reopens it).
                await self.state.reopen_job(request.forge, created_for)
        await self.state.free_slot(pool.name, request.runner_name)
        await self.state.forget_pool_runner(request.forge, request.runner_name)

        registry = self.registries[request.forge]
        scope = RunnerScope(pool, request.org, pool.registration_repository, request.installation_id)
        removed = await self._remove_registration(registry, scope, request, ctx)
        log.info(
            "runner.released",
            **ctx,
            vm_deleted=vm_deleted,
            registration_removed=removed,
            conclusion=request.conclusion,
            **_usage_fields(usage),
        )
        return ReleaseResult(vm_deleted, removed, "released", usage)

    async def _confirmed(self, request: ReleaseRequest, ctx: dict[str, object]) -> bool:
        confirmer = self.confirmers.get(request.forge)
        if confirmer is None:
            return True
        if request.project_id is None and not request.repository:
            log.warning("release.not_confirmed", **ctx, reason="no project to ask about the job")
            return False
        job = request.job_ref()
        status = await confirmer.status(job)
        if status in FINISHED:
            return True
        # Not over (or no such job): a hook that says otherwise is stale, reordered or forged.
        log.warning("release.not_confirmed", **ctx, forge_status=status or "not found")
        return False

    async def _remove_registration(
        self, registry: RunnerRegistry, scope: RunnerScope, request: ReleaseRequest, ctx: dict[str, object]
    ) -> bool:
        if registry.removes_itself_after_job:
            return False
        runner = (
            await registry.get(scope, request.runner_id)
            if request.runner_id is not None
            else await registry.find(scope, request.runner_name)
        )
        # A JIT runner usually removes itself after its job; only the leftovers need us.
        if runner is None or runner.name != request.runner_name:
            return False
        try:
            return await registry.remove(scope, runner.runner_id)
        except RunnerBusy:
            log.warning("release.runner_busy", **ctx, runner_id=runner.runner_id)
            return False


def _usage_fields(usage: Usage | None) -> dict[str, object]:
    """What the release log says of the VM's use (nothing when this release wrote no usage)."""
    if usage is None:
        return {}
    return {
        "vm_seconds": round(usage.vm_seconds, 1),
        "size": usage.size,
        "spot": usage.spot,
        "cost": usage.cost,
        "currency": usage.currency,
        "price_source": usage.price_source,
    }
