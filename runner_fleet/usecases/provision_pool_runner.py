"""Provision a pool runner: one runner made for a pool, not for a job (a warm one, or a replacement).

Like a job's provision without the forge lookup: the key in the request names the runner, so the
same request, however often delivered, makes one VM. Its claim lives beside the jobs' claims (key
`pool:<key>`), so leases, follow-ups and the reconciler treat it like any runner being made.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from runner_fleet import naming
from runner_fleet.logs import get_logger
from runner_fleet.messages import PoolRunnerRequest
from runner_fleet.ports.forge import RunnerScope
from runner_fleet.ports.preflight import PreflightGate
from runner_fleet.settings.pool import Pool
from runner_fleet.state.store import FleetState
from runner_fleet.telemetry import traces
from runner_fleet.usecases.create_runner import (
    LEASE_S,
    Claimed,
    ProvisionRetryLater,
    RunnerCreation,
    Step,
    base_tags,
)
from runner_fleet.usecases.provision import ProvisionResult, follows_its_claim, gates_pass, step_result

log = get_logger("provision")


@dataclass(frozen=True)
class PoolRunnerProvisioner:
    pools: Mapping[str, Pool]
    state: FleetState
    creation: RunnerCreation
    preflight: PreflightGate | None = None
    forge_gate: PreflightGate | None = None
    now: Callable[[], float] = time.time

    async def __call__(self, request: PoolRunnerRequest, *, message_id: str) -> ProvisionResult:
        # No job's trace: a pool runner's steps make a trace of their own.
        attributes = {traces.POOL: request.pool, "runner_fleet.reason": request.reason}
        with traces.span(
            "provision",
            traceparent=request.traceparent,
            attributes=attributes,
            expected=(ProvisionRetryLater,),
        ) as span:
            result = await self._provision(request, message_id=message_id)
            traces.set_attributes(span, outcome=result.outcome, runner=result.runner_name)
            return result

    async def _provision(self, request: PoolRunnerRequest, *, message_id: str) -> ProvisionResult:
        pool = self.pools.get(request.pool)
        ctx: dict[str, object] = {"forge": request.forge, "pool": request.pool, "reason": request.reason}
        if pool is None or pool.forge != request.forge:
            log.error("provision.unknown_pool", **ctx)
            return ProvisionResult("unknown-pool")
        owner = request.owner or message_id
        key = f"pool:{request.key}"
        name = naming.pool_runner_name(pool.name, request.forge, request.key)
        ctx["runner"] = name
        if request.owner and not await follows_its_claim(self.state, request.forge, key, request.owner):
            log.info("provision.follow_up_stale", **ctx)
            return ProvisionResult("not-needed", name)
        if not request.owner:
            try:
                await gates_pass(pool, self.preflight, self.forge_gate)
            except ProvisionRetryLater as failing:
                # No job waits on a pool runner: the reconciler asks again once the pool passes.
                log.info("provision.pool_runner_skipped", **ctx, why=failing.reason)
                return ProvisionResult("not-needed", name)
        claim = await self.state.claim_job(
            request.forge, key, runner_name=name, pool=pool.name, owner=owner, lease_s=LEASE_S
        )
        if not claim.granted:
            if claim.state != "provisioning":
                return ProvisionResult("already-served", name)
            raise ProvisionRetryLater(max(5.0, claim.busy_until - self.now()))
        if not request.owner:
            log.info("runner.provisioning", **ctx)
            await self.state.note_pool_runner(request.forge, name, key=key, pool=pool.name)
        tags = base_tags(pool, request.forge, name, self.now()) | {
            "kind": "pool",
            "scope": pool.registration_repository or RunnerScope.of_pool(pool).org,
        }
        scope = RunnerScope.of_pool(pool)
        claimed = Claimed(
            request.forge,
            key,
            owner,
            name,
            pool,
            scope,
            tags,
            ctx,
            warm=True,
            data=claim.record.data if claim.record else {},
        )
        step = await self.creation.advance(claimed)

        def follow_up(step: Step) -> str:
            # Every size failed: the reconciler will ask for a warm runner again; nothing waits on it.
            if step.outcome == "all-failed":
                return ""
            traceparent = traces.current_traceparent() or request.traceparent
            return request.model_copy(update={"owner": owner, "traceparent": traceparent}).to_json()

        result = step_result(step, name, follow_up)
        return result if result.follow_up != "" else ProvisionResult("gave-up", name)
