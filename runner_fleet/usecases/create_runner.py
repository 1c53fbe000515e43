"""Making one runner for a claim: capacity slot, registration, the VM's PUT, and later its outcome.

No step waits for Azure to build a VM. The PUT is sent and the step returns `creating` with a delay;
the caller sends a follow-up (the same request, owning the same claim) that reads the VM again:
`Succeeded` is a runner, `Creating` waits once more, `Failed` for capacity deletes the failed VM
without waiting and the follow-up after that tries the pool's next size (spot before on demand).
A synchronous refusal (SkuNotAvailable, quota) moves to the next size at once. Which size is in
flight is kept on the claim (`plan`), so a follow-up, a redelivered message or a new owner after a
crash carries on where the last step stopped.

Reverse-order cleanup: a failure before the PUT was accepted removes the registration it just made
and frees the slot; the claim is given back whenever the job is to be tried again by a new message.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from runner_fleet.cloudinit import RunnerBootConfig, render_user_data, to_custom_data
from runner_fleet.forges import Forge
from runner_fleet.logs import get_logger, register_secret
from runner_fleet.ports.compute import (
    MANAGED_BY,
    TAG_CREATED_AT,
    TAG_MANAGED_BY,
    Compute,
    VmBeingDeleted,
    VmCreateRejected,
    VmCreateThrottled,
    VmInfo,
    VmNoLongerWanted,
    VmSpec,
    tag_stamp,
)
from runner_fleet.ports.forge import (
    ForgeRateLimited,
    Registration,
    RunnerNameTaken,
    RunnerRegistry,
    RunnerScope,
)
from runner_fleet.ports.preflight import PreflightGate
from runner_fleet.settings.pool import Pool
from runner_fleet.state.store import FleetState
from runner_fleet.telemetry import metrics, traces

log = get_logger("provision")

# How long a job waits for a free runner slot before it is tried again.
CAPACITY_RETRY_S = 20.0
# How long a job waits for its previous VM (deleting, failed or powered off) to be gone.
VM_GOING_AWAY_RETRY_S = 15.0
# Longer than a create's follow-ups can take between two of them, shorter than the queue's retry.
LEASE_S = 15 * 60


@dataclass(frozen=True)
class CreateChecks:
    """When a VM is read again after its PUT. Azure takes 30-90 s to build a Linux VM, so the first
    read comes after the fast half of that (4 long-running-operation polls: 20 s), the next ones and
    those of a failed VM being deleted every 8 s. Scaled with the poll interval, so a simulated
    cloud running faster than real time is read as often, relative to its clock, as Azure is."""

    first_s: float = 20.0
    every_s: float = 8.0

    @classmethod
    def for_polling(cls, polling_interval_s: float) -> CreateChecks:
        return cls(first_s=4 * polling_interval_s, every_s=1.6 * polling_interval_s)


# Every size failed: the claim is given back and the job tried again this much later, doubling,
# at most this many times (the reconciler recovers a job still waiting after that).
ALL_FAILED_RETRY_S = 60.0
MAX_ATTEMPTS = 3


class ProvisionRetryLater(Exception):
    """Not now, and not a failure: try again after `delay_s` without burning a queue retry."""

    def __init__(self, delay_s: float, *, reason: str = "another worker holds the job") -> None:
        super().__init__(f"{reason}; retry in {delay_s:.0f}s")
        self.delay_s = delay_s
        self.reason = reason


@dataclass(frozen=True)
class Claimed:
    """A claim the caller holds on the state table, and what to make for it."""

    forge: Forge
    key: str  # the claim's key in `job-<forge>`: a job ID, or `pool:<key>`
    owner: str
    name: str
    pool: Pool
    scope: RunnerScope
    tags: dict[str, str]
    ctx: dict[str, object]
    queued_at: float | None = None  # when its job was queued, for the queued -> created figure
    warm: bool = False  # made for the pool, not for a job: it waits for a job as long as it lives
    # The claim's row as `claim_job` just wrote it: where the last step left the create.
    data: Mapping[str, Any] = field(default_factory=dict)


StepOutcome = Literal["created", "creating", "already-served", "not-needed", "all-failed"]


@dataclass(frozen=True)
class Step:
    outcome: StepOutcome
    # `creating`: read the VM again this much later; `all-failed`: try the job again then.
    after_s: float = 0.0


def base_tags(pool: Pool, forge: Forge, name: str, now: float) -> dict[str, str]:
    return {
        TAG_MANAGED_BY: MANAGED_BY,
        "pool": pool.name,
        "forge": forge,
        "runner": name,
        TAG_CREATED_AT: tag_stamp(now),
    }


@dataclass(frozen=True)
class RunnerCreation:
    state: FleetState
    compute: Compute
    registries: Mapping[Forge, RunnerRegistry]
    ssh_public_key: str
    now: Callable[[], float] = time.time
    checks: CreateChecks = field(default_factory=CreateChecks)
    # The network preflight gate, whose (cached) report names the private endpoints a runner checks
    # before it registers; without one, runners check none.
    preflight: PreflightGate | None = None

    async def advance(self, claim: Claimed) -> Step:
        """One step towards a runner for `claim`, from wherever the last step left it."""
        data = claim.data
        plan = int(data.get("plan") or 0)
        vm = await self.compute.get_vm(claim.pool, claim.name)
        if vm is None:
            if data.get("requested_at") and not data.get("replacing"):
                # This claim's VM was built and is gone already: its runner ran a job and was
                # released or reaped before a follow-up (behind a backlog) read it. Made once is enough.
                await self.state.mark_job(claim.forge, claim.key, "provisioned", vm=claim.name)
                log.info("provision.vm_already_gone", **claim.ctx)
                return Step("already-served")
            return await self._create(claim, plan)
        if vm.provisioning_state == "Failed" and data.get("requested_at"):
            return await self._failed(claim, vm, plan)  # this claim's PUT, failed after acceptance
        if vm.going_away:
            if data.get("replacing"):
                return Step("creating", self.checks.every_s)  # our own failed VM, on its way out
            if data.get("requested_at"):
                # This claim's own VM, built, and its runner already ran a job and powered off (a
                # follow-up that waited behind a backlog): served; the job's release deletes it.
                await self.state.mark_job(claim.forge, claim.key, "provisioned", vm=claim.name)
                return Step("created")
            # Made for this job, it ran another and is being deleted (or powered off): it will not
            # serve this job. Wait until the name is free, holding no lease, so the reconciler may
            # clean up meanwhile.
            await self.state.drop_claim(claim.forge, claim.key, owner=claim.owner)
            log.info("provision.vm_going_away", **claim.ctx, vm_state=vm.state_text)
            raise ProvisionRetryLater(VM_GOING_AWAY_RETRY_S, reason="the job's previous VM is going away")
        if vm.provisioning_state == "Succeeded":
            # When its VM was seen running: the start of its runner's `runner.online` (telemetry).
            running = {"running_at": self.now()} if data.get("requested_at") else {}
            await self.state.mark_job(claim.forge, claim.key, "provisioned", vm=claim.name, **running)
            if not data.get("requested_at"):
                log.info("provision.vm_exists", **claim.ctx, provisioning_state=vm.provisioning_state)
                return Step("already-served")
            self._log_created(claim, vm, data)
            return Step("created")
        # Creating or Updating: ours, in flight (this claim's PUT, or one before a crash).
        await self.state.note_progress(claim.forge, claim.key, owner=claim.owner, lease_s=LEASE_S)
        return Step("creating", self.checks.every_s)

    def _log_created(self, claim: Claimed, vm: VmInfo, data: Mapping[str, object]) -> None:
        extra: dict[str, object] = {}
        requested = data.get("requested_at")
        if isinstance(requested, int | float):
            extra["create_s"] = round(self.now() - requested, 3)
            metrics.startup_phase(claim.pool.name, "create-to-running", self.now() - requested)
        if claim.queued_at is not None:
            extra["queued_for_s"] = round(self.now() - claim.queued_at, 3)
        log.info("vm.created", **claim.ctx, size=vm.size, resource_group=vm.resource_group, **extra)

    def _plans(self, pool: Pool) -> list[tuple[str, bool]]:
        """The pool's sizes in order; spot first when asked, then on demand if allowed."""
        azure = pool.azure
        plans = [(size, azure.spot) for size in azure.vm_sizes]
        if azure.spot and azure.spot_fallback_to_on_demand:
            plans += [(size, False) for size in azure.vm_sizes]
        return plans

    async def _prepare(self, claim: Claimed) -> tuple[RunnerRegistry, Registration, str]:
        """A slot and a registration for the runner, and the user data that carries its secret."""
        wait = self.compute.throttled_for()
        if wait > 0:
            # Resource Manager refuses creates for a while: wait without spending a registration.
            await self.state.drop_claim(claim.forge, claim.key, owner=claim.owner)
            raise ProvisionRetryLater(_spread(wait), reason="VM creates are throttled")
        # Asked before a slot or a registration is taken, so nothing needs undoing if it raises.
        endpoints = await self._endpoints(claim.pool)
        slot = await self.state.claim_slot(claim.pool.name, claim.name, claim.pool.limits.max_runners)
        if slot is None:
            # Never drop a job at capacity: give the lease back and try again once a runner frees up.
            await self.state.drop_claim(claim.forge, claim.key, owner=claim.owner)
            log.info("provision.at_capacity", **claim.ctx, max_runners=claim.pool.limits.max_runners)
            raise ProvisionRetryLater(CAPACITY_RETRY_S, reason="pool at max runners")
        registry = self.registries[claim.forge]
        registration = await self._register_or_wait(registry, claim)
        register_secret(registration.secret)
        log.info("runner.registered", **claim.ctx, runner_id=registration.runner_id)
        user_data = render_user_data(
            RunnerBootConfig(
                forge=claim.forge,
                runner_name=claim.name,
                pool=claim.pool,
                forge_url=registry.forge_url(claim.scope),
                secret=registration.secret,
                warm=claim.warm,
                endpoints=endpoints,
            )
        )
        return registry, registration, to_custom_data(user_data)

    async def _endpoints(self, pool: Pool) -> tuple[str, ...]:
        """The pool's private endpoint names, from the gate's report (cached: no extra Azure reads)."""
        if self.preflight is None:
            return ()
        return (await self.preflight.check(pool)).endpoints

    async def _create(self, claim: Claimed, plan: int) -> Step:
        plans = self._plans(claim.pool)
        if plan >= len(plans):
            return await self._all_failed(claim, None)
        registry, registration, custom_data = await self._prepare(claim)

        async def still_wanted() -> bool:
            # Only while the claim is still ours. Settled (done) is final: its runner ran it (a PUT
            # answered 504 may still have made the VM) or it was cancelled. Reopened (reaped): the VM
            # an earlier attempt made ran another job and a release deleted it, so this name's
            # registration is spent. Claimed by another message: its lease ran out and it is theirs.
            current = await self.state.job(claim.forge, claim.key)
            return (
                current is not None
                and current.data.get("state") == "provisioning"
                and current.data.get("owner") == claim.owner
            )

        last: VmCreateRejected | None = None
        for index in range(plan, len(plans)):
            size, spot = plans[index]
            spec = VmSpec(claim.name, claim.pool, size, custom_data, claim.tags, self.ssh_public_key, spot)
            attributes: traces.Attributes = {
                traces.RUNNER: claim.name,
                "runner_fleet.vm.size": size,
                "runner_fleet.vm.spot": spot,
            }
            try:
                with traces.span("vm.create", attributes=attributes, expected=_NOT_REFUSALS):
                    vm = await self.compute.start_create(spec, still_wanted=still_wanted)
            except VmCreateRejected as rejected:
                last = rejected
                log.warning("vm.create_rejected", **claim.ctx, size=size, spot=spot, code=rejected.code)
                metrics.vm_create_refused(claim.pool.name, rejected.code)
                continue
            except VmNoLongerWanted:
                await self._undo(registry, claim, registration)
                log.info("provision.job_ended_during_create", **claim.ctx)
                return Step("not-needed")
            except VmBeingDeleted:
                # An earlier VM of this name is still being deleted: not a failure, the job waits for it.
                await self._undo(registry, claim, registration)
                await self.state.drop_claim(claim.forge, claim.key, owner=claim.owner)
                raise ProvisionRetryLater(
                    VM_GOING_AWAY_RETRY_S, reason="the job's previous VM is going away"
                ) from None
            except VmCreateThrottled as throttled:
                await self._undo(registry, claim, registration)
                await self.state.drop_claim(claim.forge, claim.key, owner=claim.owner)
                raise ProvisionRetryLater(
                    _spread(throttled.retry_after_s), reason="VM creates are throttled"
                ) from None
            except BaseException:
                await self._undo(registry, claim, registration)
                raise
            await self.state.note_progress(
                claim.forge,
                claim.key,
                owner=claim.owner,
                lease_s=LEASE_S,
                plan=index,
                replacing=False,
                requested_at=self.now(),
            )
            log.info("vm.create_requested", **claim.ctx, size=size, spot=spot)
            if claim.queued_at is not None and not claim.data.get("requested_at"):
                metrics.startup_phase(claim.pool.name, "queue-to-create", self.now() - claim.queued_at)
            if vm.provisioning_state == "Succeeded":
                data = {"requested_at": self.now()}
                await self.state.mark_job(
                    claim.forge, claim.key, "provisioned", vm=claim.name, running_at=self.now()
                )
                self._log_created(claim, vm, data)
                return Step("created")
            return Step("creating", self.checks.first_s)
        await self._undo(registry, claim, registration)
        assert last is not None  # a pool has at least one size
        return await self._all_failed(claim, last)

    async def _failed(self, claim: Claimed, vm: VmInfo, plan: int) -> Step:
        """Azure failed the VM after accepting it: clear it, then the next size, if that may help."""
        failure = vm.failure
        code = failure.code if failure is not None else "unknown"
        log.warning("vm.create_failed", **claim.ctx, size=vm.size, code=code)
        metrics.vm_create_refused(claim.pool.name, code)
        # Without waiting: the next follow-up finds it deleting, then gone.
        await self.compute.delete_vm(claim.pool, claim.name, wait=False)
        if failure is not None and failure.capacity and plan + 1 < len(self._plans(claim.pool)):
            await self.state.note_progress(
                claim.forge, claim.key, owner=claim.owner, lease_s=LEASE_S, plan=plan + 1, replacing=True
            )
            return Step("creating", self.checks.every_s)
        await self._remove_registration(claim)
        return await self._all_failed(claim, VmCreateRejected(code, failure.message if failure else ""))

    async def _all_failed(self, claim: Claimed, last: VmCreateRejected | None) -> Step:
        """No size would do now: free everything and let the job be tried again later from the first."""
        await self.state.free_slot(claim.pool.name, claim.name)
        await self.state.drop_claim(claim.forge, claim.key, owner=claim.owner)
        log.error("provision.no_size_left", **claim.ctx, code=last.code if last else None)
        return Step("all-failed", ALL_FAILED_RETRY_S)

    async def _register_or_wait(self, registry: RunnerRegistry, claim: Claimed) -> Registration:
        try:
            return await self._register(registry, claim)
        except ForgeRateLimited as limited:
            # The forge asked us to wait (its hourly budget is spent, or a secondary limit): the job
            # waits too, holding neither lease nor slot, and the message's retries are kept for failures.
            await self.state.free_slot(claim.pool.name, claim.name)
            await self.state.drop_claim(claim.forge, claim.key, owner=claim.owner)
            log.warning(
                "provision.forge_rate_limited", **claim.ctx, retry_after_s=round(limited.retry_after_s, 1)
            )
            raise ProvisionRetryLater(limited.retry_after_s, reason=limited.reason) from None
        except Exception:
            # No registration, so no VM will come: the slot must not wait for the reconciler.
            await self.state.free_slot(claim.pool.name, claim.name)
            raise

    async def _register(self, registry: RunnerRegistry, claim: Claimed) -> Registration:
        try:
            return await registry.register(claim.scope, claim.name)
        except RunnerNameTaken:
            # An earlier attempt registered this name (it died before its VM existed, or its VM failed
            # and was deleted). Its secret is gone with it, so the registration is useless: replace it.
            stale = await registry.find(claim.scope, claim.name)
            if stale is not None:
                log.info("runner.replacing_stale_registration", **claim.ctx, runner_id=stale.runner_id)
                await registry.remove(claim.scope, stale.runner_id)
            return await registry.register(claim.scope, claim.name)

    async def _undo(self, registry: RunnerRegistry, claim: Claimed, registration: Registration) -> None:
        try:
            await registry.remove(claim.scope, registration.runner_id)
            log.warning(
                "provision.vm_failed_registration_removed", **claim.ctx, runner_id=registration.runner_id
            )
        except Exception:
            # The reconciler removes registrations whose VM never appeared; do not mask the VM error.
            log.exception("provision.cleanup_failed", **claim.ctx, runner_id=registration.runner_id)
        await self.state.free_slot(claim.pool.name, claim.name)

    async def _remove_registration(self, claim: Claimed) -> None:
        registry = self.registries[claim.forge]
        try:
            stale = await registry.find(claim.scope, claim.name)
            if stale is not None:
                await registry.remove(claim.scope, stale.runner_id)
        except Exception:
            log.exception("provision.cleanup_failed", **claim.ctx)


# What a VM create may raise that is not Azure refusing it: the create's span is not failed by them.
_NOT_REFUSALS = (VmNoLongerWanted, VmBeingDeleted, VmCreateThrottled)


def _spread(wait_s: float) -> float:
    """A wait with jitter, so creates that waited together do not all come back in the same second."""
    return wait_s + random.uniform(0.0, max(2.0, wait_s * 0.5))  # noqa: S311 - jitter, not secrecy
