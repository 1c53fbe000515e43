"""Provision: give one queued job a fresh runner VM.

Steps, each safe to repeat: ask the forge about the job (nothing is made unless it still waits, and
its pool comes from the forge's answer); check the pool's gates (network preflight, forge scope);
take the job's lease; if the VM already exists, the job is served; register the runner (JIT config /
runner token); create the VM. A failed VM create removes the
registration it just made (reverse-order cleanup) before the error propagates to the queue's retry.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from runner_fleet import naming
from runner_fleet.cloudinit import RunnerBootConfig, render_user_data, to_custom_data
from runner_fleet.forges import Forge
from runner_fleet.logs import get_logger, register_secret
from runner_fleet.messages import ProvisionRequest
from runner_fleet.ports.compute import (
    MANAGED_BY,
    TAG_MANAGED_BY,
    Compute,
    StillWanted,
    VmBeingDeleted,
    VmCreateRejected,
    VmInfo,
    VmNoLongerWanted,
    VmSpec,
)
from runner_fleet.ports.forge import (
    ForgeRateLimited,
    Registration,
    RunnerNameTaken,
    RunnerRegistry,
    RunnerScope,
)
from runner_fleet.ports.jobs import JobResolver
from runner_fleet.ports.preflight import PreflightGate
from runner_fleet.settings.pool import Pool
from runner_fleet.state.store import FleetState

log = get_logger("provision")

# How long a job for a pool failing its preflight waits before it is tried again.
PREFLIGHT_RETRY_S = 120.0
# How long a job waits for a free runner slot before it is tried again.
CAPACITY_RETRY_S = 20.0
# How long a job waits for its previous VM (deleting, failed or powered off) to be gone.
VM_GOING_AWAY_RETRY_S = 15.0
# Longer than one attempt can take (a VM create is minutes at worst), shorter than the queue's retry delay.
LEASE_S = 15 * 60


ProvisionOutcome = Literal["created", "already-served", "deferred", "not-needed", "unknown-pool"]


@dataclass(frozen=True)
class ProvisionResult:
    outcome: ProvisionOutcome
    runner_name: str | None = None
    retry_after_s: float = 0.0


class ProvisionRetryLater(Exception):
    """Not now, and not a failure: try again after `delay_s` without burning a queue retry."""

    def __init__(self, delay_s: float, *, reason: str = "another worker holds the job") -> None:
        super().__init__(f"{reason}; retry in {delay_s:.0f}s")
        self.delay_s = delay_s
        self.reason = reason


@dataclass(frozen=True)
class Provisioner:
    pools: Mapping[str, Pool]
    state: FleetState
    compute: Compute
    registries: Mapping[Forge, RunnerRegistry]
    ssh_public_key: str
    resolvers: Mapping[Forge, JobResolver] = field(default_factory=dict)
    preflight: PreflightGate | None = None
    # What the forge says of the pool's scope (GitHub: its runner group), checked like the network.
    forge_gate: PreflightGate | None = None
    now: Callable[[], float] = time.time

    async def __call__(self, request: ProvisionRequest, *, message_id: str) -> ProvisionResult:
        ctx: dict[str, object] = {"forge": request.forge, "pool": request.pool, "job_id": request.job_id}
        pool = await self._pool_for(request, ctx, message_id)
        if pool is None:
            # An earlier attempt of this message (killed mid-way) may hold the job's lease: give it back,
            # so the reconciler may clean up whatever that attempt left.
            await self.state.drop_claim(request.forge, str(request.job_id), owner=message_id)
            known = request.forge in self.resolvers or not request.pool
            return ProvisionResult("not-needed" if known else "unknown-pool")
        ctx["pool"] = pool.name
        for gate, reason in ((self.preflight, "preflight failed"), (self.forge_gate, "forge check failed")):
            if gate is not None and not (await gate.check(pool)).ok:
                # Never pay for a VM that cannot reach the cluster, nor for a runner whose group lets
                # other repositories take it: the job waits and is retried, never dropped.
                raise ProvisionRetryLater(PREFLIGHT_RETRY_S, reason=reason)
        name = naming.runner_name(pool.name, request.forge, str(request.job_id))
        ctx["runner"] = name
        claim = await self.state.claim_job(
            request.forge,
            str(request.job_id),
            runner_name=name,
            pool=pool.name,
            owner=message_id,
            lease_s=LEASE_S,
        )
        if not claim.granted:
            if claim.state != "provisioning":
                log.info("provision.already_served", **ctx, state=claim.state)
                return ProvisionResult("already-served", claim.runner_name)
            raise ProvisionRetryLater(max(5.0, claim.busy_until - self.now()))

        log.info("runner.provisioning", **ctx)
        existing = await self.compute.get_vm(pool, name)
        if existing is not None and existing.going_away:
            # The runner made for this job ran another one and is being deleted (or its VM failed):
            # it will not serve this job. Wait until the name is free, holding no lease meanwhile, so
            # the reconciler may clean up a failed VM.
            await self.state.drop_claim(request.forge, str(request.job_id), owner=message_id)
            log.info("provision.vm_going_away", **ctx, vm_state=existing.state_text)
            raise ProvisionRetryLater(VM_GOING_AWAY_RETRY_S, reason="the job's previous VM is going away")
        if existing is not None:
            await self.state.mark_job(request.forge, str(request.job_id), "provisioned", vm=name)
            log.info("provision.vm_exists", **ctx, provisioning_state=existing.provisioning_state)
            return ProvisionResult("already-served", name)

        slot = await self.state.claim_slot(pool.name, name, pool.limits.max_runners)
        if slot is None:
            # Never drop a job at capacity: give the lease back and try again once a runner frees up.
            await self.state.drop_claim(request.forge, str(request.job_id), owner=message_id)
            log.info("provision.at_capacity", **ctx, max_runners=pool.limits.max_runners)
            raise ProvisionRetryLater(CAPACITY_RETRY_S, reason="pool at max runners")

        vm = await self._make_runner(pool, request, name, message_id, ctx)
        if vm is None:
            log.info("provision.job_ended_during_create", **ctx)  # or reopened, or claimed by another
            return ProvisionResult("not-needed", name)
        await self.state.mark_job(request.forge, str(request.job_id), "provisioned", vm=name)
        log.info(
            "vm.created",
            **ctx,
            size=vm.size,
            resource_group=vm.resource_group,
            queued_for_s=round(self.now() - request.queued_at, 3),
        )
        return ProvisionResult("created", name)

    async def _make_runner(
        self, pool: Pool, request: ProvisionRequest, name: str, message_id: str, ctx: dict[str, object]
    ) -> VmInfo | None:
        """Register, then create the VM; on any failure undo in reverse order (the slot included).

        None: the job stopped being this provision's (settled, reopened or claimed by another) before
        the VM was made, so none was.
        """
        registry = self.registries[request.forge]
        scope = RunnerScope(pool, request.org, pool.registration_repository, request.installation_id)
        try:
            registration = await self._register_or_wait(registry, scope, request, message_id, ctx)
        except ProvisionRetryLater:
            raise  # the slot and lease are given back already
        except Exception:
            # No registration, so no VM will come: the slot must not wait for the reconciler.
            await self.state.free_slot(pool.name, name)
            raise
        register_secret(registration.secret)
        log.info("runner.registered", **ctx, runner_id=registration.runner_id)

        user_data = render_user_data(
            RunnerBootConfig(
                forge=request.forge,
                runner_name=name,
                pool=pool,
                forge_url=registry.forge_url(scope),
                secret=registration.secret,
            )
        )
        tags = self._tags(pool, request, name)
        job_key = str(request.job_id)

        async def still_wanted() -> bool:
            # Only while the job is still this provision's claim. Settled (done) is final: its runner
            # ran it (a create answered 504 may still have made the VM) or it was cancelled. Reopened
            # (reaped): the VM that attempt made ran another job and a release deleted it, so this
            # name's registration is spent and a VM made now would boot a runner that can take no
            # job. Claimed by another message: its lease ran out and the job is that provision's.
            record = await self.state.job(request.forge, job_key)
            return (
                record is not None
                and record.data.get("state") == "provisioning"
                and record.data.get("owner") == message_id
            )

        try:
            return await self._create_with_fallback(
                pool, name, to_custom_data(user_data), tags, ctx, still_wanted=still_wanted
            )
        except VmNoLongerWanted:
            await self._unregister(registry, scope, registration, ctx)
            await self.state.free_slot(pool.name, name)
            return None
        except VmBeingDeleted:
            # An earlier VM of this name is still being deleted: not a failure, the job waits for it.
            await self._unregister(registry, scope, registration, ctx)
            await self.state.free_slot(pool.name, name)
            await self.state.drop_claim(request.forge, str(request.job_id), owner=message_id)
            raise ProvisionRetryLater(
                VM_GOING_AWAY_RETRY_S, reason="the job's previous VM is going away"
            ) from None
        except BaseException:
            await self._unregister(registry, scope, registration, ctx)
            await self.state.free_slot(pool.name, name)
            raise

    async def _create_with_fallback(
        self,
        pool: Pool,
        name: str,
        custom_data: str,
        tags: dict[str, str],
        ctx: dict[str, object],
        *,
        still_wanted: StillWanted,
    ) -> VmInfo:
        """Try the pool's sizes in order; spot first when asked, then on demand if allowed."""
        azure = pool.azure
        plans = [(size, azure.spot) for size in azure.vm_sizes]
        if azure.spot and azure.spot_fallback_to_on_demand:
            plans += [(size, False) for size in azure.vm_sizes]
        last: VmCreateRejected | None = None
        for size, spot in plans:
            spec = VmSpec(name, pool, size, custom_data, tags, self.ssh_public_key, spot)
            try:
                return await self.compute.create_vm(spec, still_wanted=still_wanted)
            except VmCreateRejected as rejected:
                last = rejected
                log.warning("vm.create_rejected", **ctx, size=size, spot=spot, code=rejected.code)
        assert last is not None  # a pool has at least one size
        raise last

    async def _pool_for(
        self, request: ProvisionRequest, ctx: dict[str, object], message_id: str
    ) -> Pool | None:
        """The pool the forge's own record of the job leads to, where the forge can be asked.

        A queue message is a claim: a GitHub delivery replayed under a new ID, or a webhook about a
        job taken or cancelled since, must not make a VM. Without a resolver the message's pool is
        taken as it is.
        """
        resolver = self.resolvers.get(request.forge)
        if resolver is None:
            if not request.pool:
                log.error("provision.cannot_resolve_pool", **ctx)
                return None
            pool = self.pools.get(request.pool)
            if pool is None:
                log.error("provision.unknown_pool", **ctx)
            return pool
        candidates = [pool for pool in self.pools.values() if pool.forge == request.forge]
        job = request.job_ref()
        try:
            resolution = await resolver.resolve(job, candidates)
        except ForgeRateLimited as limited:
            # The job waits for the forge's budget, holding nothing (an earlier attempt of this message,
            # killed mid-way, may have left its lease).
            await self.state.drop_claim(request.forge, str(request.job_id), owner=message_id)
            log.warning("provision.forge_rate_limited", **ctx, retry_after_s=round(limited.retry_after_s, 1))
            raise ProvisionRetryLater(limited.retry_after_s, reason=limited.reason) from None
        if resolution.pool is None:
            # Left alone on purpose: not ours to serve, or already taken, cancelled or finished.
            log.info("provision.not_needed", **ctx, reason=resolution.reason)
        else:
            log.info("job.matched", **ctx | {"pool": resolution.pool.name})
        return resolution.pool

    async def _register_or_wait(
        self,
        registry: RunnerRegistry,
        scope: RunnerScope,
        request: ProvisionRequest,
        message_id: str,
        ctx: dict[str, object],
    ) -> Registration:
        name = str(ctx["runner"])
        try:
            return await self._register(registry, scope, name, ctx)
        except ForgeRateLimited as limited:
            # The forge asked us to wait (its hourly budget is spent, or a secondary limit): the job
            # waits too, holding neither lease nor slot, and the message's retries are kept for failures.
            await self.state.free_slot(scope.pool.name, name)
            await self.state.drop_claim(request.forge, str(request.job_id), owner=message_id)
            log.warning("provision.forge_rate_limited", **ctx, retry_after_s=round(limited.retry_after_s, 1))
            raise ProvisionRetryLater(limited.retry_after_s, reason=limited.reason) from None

    async def _register(
        self, registry: RunnerRegistry, scope: RunnerScope, name: str, ctx: dict[str, object]
    ) -> Registration:
        try:
            return await registry.register(scope, name)
        except RunnerNameTaken:
            # A previous attempt registered this name and died before its VM existed (we checked).
            # Its secret is lost with it, so the registration is useless: replace it.
            stale = await registry.find(scope, name)
            if stale is not None:
                log.info("runner.replacing_stale_registration", **ctx, runner_id=stale.runner_id)
                await registry.remove(scope, stale.runner_id)
            return await registry.register(scope, name)

    async def _unregister(
        self, registry: RunnerRegistry, scope: RunnerScope, registration: Registration, ctx: dict[str, object]
    ) -> None:
        try:
            await registry.remove(scope, registration.runner_id)
            log.warning("provision.vm_failed_registration_removed", **ctx, runner_id=registration.runner_id)
        except Exception:
            # The reconciler removes registrations whose VM never appeared; do not mask the VM error.
            log.exception("provision.cleanup_failed", **ctx, runner_id=registration.runner_id)

    def _tags(self, pool: Pool, request: ProvisionRequest, name: str) -> dict[str, str]:
        return {
            TAG_MANAGED_BY: MANAGED_BY,
            "pool": pool.name,
            "forge": request.forge,
            "runner": name,
            "job": str(request.job_id),
            "scope": pool.registration_repository or request.org or request.repository,
            "created-at": datetime.fromtimestamp(self.now(), UTC).isoformat(timespec="seconds"),
        }
