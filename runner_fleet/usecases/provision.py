"""Provision: give one queued job a runner.

Steps, each safe to repeat: ask the forge about the job (nothing is made unless it still waits, and
its pool comes from the forge's answer); check the pool's gates (network preflight, forge scope);
take the job's lease; then one step of making its runner (`create_runner.RunnerCreation`): the VM's
PUT is sent and this step returns; a follow-up message, owning the same lease, reads the VM later.
A follow-up does not ask the forge again: the PUT is sent already, and a runner made for a job that
another runner took serves the pool's next job.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from runner_fleet import naming
from runner_fleet.forges import Forge
from runner_fleet.logs import get_logger
from runner_fleet.messages import ProvisionRequest
from runner_fleet.ports.forge import ForgeRateLimited, RunnerScope
from runner_fleet.ports.jobs import JobResolver
from runner_fleet.ports.preflight import PreflightGate
from runner_fleet.settings.pool import Pool
from runner_fleet.state.store import FleetState
from runner_fleet.telemetry import metrics, traces
from runner_fleet.usecases.create_runner import (
    LEASE_S,
    MAX_ATTEMPTS,
    Claimed,
    ProvisionRetryLater,
    RunnerCreation,
    Step,
    base_tags,
)
from runner_fleet.warm.demand import DemandLog

log = get_logger("provision")

# The longest a job for a pool failing its preflight waits before it is tried again.
PREFLIGHT_RETRY_S = 120.0

ProvisionOutcome = Literal[
    "created", "creating", "already-served", "deferred", "not-needed", "unknown-pool", "gave-up"
]


@dataclass(frozen=True)
class ProvisionResult:
    outcome: ProvisionOutcome
    runner_name: str | None = None
    retry_after_s: float = 0.0
    # A message to send after `retry_after_s`: the follow-up of a create in flight, or the next try.
    follow_up: str | None = None


def step_result(step: Step, name: str, follow_up: Callable[[Step], str]) -> ProvisionResult:
    """What a create step means for the queue: done, or a follow-up to send after a delay."""
    if step.outcome == "creating":
        return ProvisionResult("creating", name, step.after_s, follow_up(step))
    if step.outcome == "all-failed":
        return ProvisionResult("deferred", name, step.after_s, follow_up(step))
    return ProvisionResult(step.outcome, name)


@dataclass(frozen=True)
class Provisioner:
    pools: Mapping[str, Pool]
    state: FleetState
    creation: RunnerCreation
    resolvers: Mapping[Forge, JobResolver] = field(default_factory=dict)
    preflight: PreflightGate | None = None
    # What the forge says of the pool's scope (GitHub: its runner group), checked like the network.
    forge_gate: PreflightGate | None = None
    now: Callable[[], float] = time.time

    async def __call__(self, request: ProvisionRequest, *, message_id: str) -> ProvisionResult:
        # A step of the job's trace, under the span that sent the message (webhook, or the step before).
        with traces.job_span(
            "provision",
            request.forge,
            request.job_id,
            traceparent=request.traceparent,
            attributes={traces.POOL: request.pool, "runner_fleet.follow_up": bool(request.owner)},
            expected=(ProvisionRetryLater,),
        ) as span:
            result = await self._provision(request, message_id=message_id)
            traces.set_attributes(span, outcome=result.outcome, runner=result.runner_name)
            return result

    async def _provision(self, request: ProvisionRequest, *, message_id: str) -> ProvisionResult:
        ctx: dict[str, object] = {"forge": request.forge, "pool": request.pool, "job_id": request.job_id}
        owner = request.owner or message_id
        job_key = str(request.job_id)
        if request.owner:
            # A follow-up: the forge was asked before the PUT, and is not asked again, so it may go on
            # only while its claim is still the one it follows (the job reopened or settled since:
            # whatever comes next for it starts from the forge's answer, not from here).
            if not await follows_its_claim(self.state, request.forge, job_key, request.owner):
                log.info("provision.follow_up_stale", **ctx)
                return ProvisionResult("not-needed")
            pool = self.pools.get(request.pool)
        else:
            pool = await self._pool_for(request, ctx, owner)
        if pool is None:
            # An earlier attempt of this message (killed mid-way) may hold the job's lease: give it back,
            # so the reconciler may clean up whatever that attempt left.
            await self.state.drop_claim(request.forge, job_key, owner=owner)
            known = request.forge in self.resolvers or not request.pool
            return ProvisionResult("not-needed" if known else "unknown-pool")
        ctx["pool"] = pool.name
        if not request.owner:
            await gates_pass(pool, self.preflight, self.forge_gate)
        name = naming.runner_name(pool.name, request.forge, job_key)
        ctx["runner"] = name
        claim = await self.state.claim_job(
            request.forge,
            job_key,
            runner_name=name,
            pool=pool.name,
            owner=owner,
            lease_s=LEASE_S,
            queued_at=request.queued_at,
        )
        if not claim.granted:
            if claim.state != "provisioning":
                log.info("provision.already_served", **ctx, state=claim.state)
                return ProvisionResult("already-served", claim.runner_name)
            raise ProvisionRetryLater(max(5.0, claim.busy_until - self.now()))
        if not request.owner:
            log.info("runner.provisioning", **ctx)
            if pool.limits.warm_auto is not None:
                # The adaptive warm target is sized from the pool's arrival rate.
                await DemandLog(self.state.table).note_arrival(
                    pool.name, f"{request.forge}/{job_key}", request.queued_at
                )
        scope = RunnerScope(pool, request.org, pool.registration_repository, request.installation_id)
        tags = base_tags(pool, request.forge, name, self.now()) | {
            "job": job_key,
            "scope": pool.registration_repository or request.org or request.repository,
        }
        claimed = Claimed(
            request.forge,
            job_key,
            owner,
            name,
            pool,
            scope,
            tags,
            ctx,
            request.queued_at,
            data=claim.record.data if claim.record else {},
        )
        step = await self.creation.advance(claimed)

        def follow_up(step: Step) -> str:
            if step.outcome == "all-failed":
                if request.attempt + 1 >= MAX_ATTEMPTS:
                    return ""
                update: dict[str, object] = {"owner": "", "attempt": request.attempt + 1}
            else:
                update = {"owner": owner, "pool": pool.name}
            # The next step continues the trace from this one.
            update["traceparent"] = traces.current_traceparent() or request.traceparent
            return request.model_copy(update=update).to_json()

        result = step_result(step, name, follow_up)
        if result.follow_up == "":
            log.error("provision.gave_up", **ctx, attempts=request.attempt + 1)
            return ProvisionResult("gave-up", name)
        return result

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


async def follows_its_claim(state: FleetState, forge: Forge, key: str, owner: str) -> bool:
    record = await state.job(forge, key)
    return (
        record is not None
        and record.data.get("state") == "provisioning"
        and record.data.get("owner") == owner
    )


async def gates_pass(pool: Pool, preflight: PreflightGate | None, forge_gate: PreflightGate | None) -> None:
    for gate, reason in ((preflight, "preflight failed"), (forge_gate, "forge check failed")):
        if gate is None:
            continue
        report = await gate.check(pool)
        metrics.preflight_seen(pool.name, ((check.name, check.status) for check in report.checks))
        if not report.ok:
            # Never pay for a VM that cannot reach the cluster, nor for a runner whose group lets
            # other repositories take it: the job waits and is retried, never dropped; as soon as
            # the gate looks again (sooner when its check could not run at all).
            delay = min(PREFLIGHT_RETRY_S, report.recheck_in_s or PREFLIGHT_RETRY_S)
            raise ProvisionRetryLater(max(1.0, delay), reason=reason)
