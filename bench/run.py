"""One benchmark run: reconcile throughout, queue the jobs, wait for them, settle, observe, stop."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.observe import Observation, observe, vm_names
from bench.pools import PoolSpec
from bench.stack import BenchStack, ReconcileCadence
from bench.workload import Plan, queue_jobs
from runner_fleet.forges import Forge


@dataclass(frozen=True)
class Workload:
    jobs: int
    per_second: float  # jobs queued per real second
    durations_s: tuple[float, float]  # simulated job durations, uniform in this range
    seed: int = 7


@dataclass(frozen=True)
class Bounds:
    """When to stop waiting: the whole run's time, the share kept for settling, and a stall."""

    max_seconds: float
    settle_s: float
    # Nothing observable changed for this long (no job, VM or registration moved): waiting longer
    # only burns the time bound (a lost job stays queued forever).
    stall_s: float = 90.0


@dataclass
class RunRecord:
    plan: Plan
    final: Observation
    phases_s: dict[str, float]
    ended: dict[str, str]  # per phase: finished | stalled | deadline
    forge_stats: dict[str, dict[str, int]]
    kills: list[dict[str, Any]]
    deliveries: list[dict[str, Any]] = field(default_factory=list)  # both forges' webhook attempts
    arm_requests: list[dict[str, Any]] = field(default_factory=list)
    # The simulated GitHub's request log ("METHOD /route": {"status": count}) and its budgets.
    github_requests: dict[str, dict[str, int]] = field(default_factory=dict)
    github_rate_limits: dict[str, dict[str, Any]] = field(default_factory=dict)


async def run_workload(
    stack: BenchStack,
    specs: Sequence[PoolSpec],
    workload: Workload,
    cadence: ReconcileCadence,
    bounds: Bounds,
    *,
    say: Callable[[str], None],
) -> RunRecord:
    """Drive `stack` (and stop it, whatever happens) through one run within `bounds`."""
    wall = time.monotonic()
    deadline = wall + bounds.max_seconds
    pools = {spec.name: spec.forge for spec in specs}
    plan = Plan()
    phases: dict[str, float] = {}
    ended: dict[str, str] = {}
    try:
        stack.start_reconciling(cadence)
        queueing = asyncio.create_task(
            queue_jobs(
                stack.cloud,
                [spec.shape for spec in specs],
                workload.jobs,
                per_second=workload.per_second,
                durations_s=workload.durations_s,
                plan=plan,
                seed=workload.seed,
            )
        )
        try:
            ended["run"] = await _wait(
                stack,
                plan,
                queueing=queueing,
                pools=pools,
                until=deadline - bounds.settle_s,
                stall_s=bounds.stall_s,
                say=say,
            )
        finally:
            if not queueing.done():
                queueing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await queueing
        phases["run"] = round(time.monotonic() - wall, 1)
        ended["settle"] = await _wait(
            stack,
            plan,
            queueing=None,
            pools=pools,
            until=deadline,
            stall_s=bounds.stall_s,
            say=say,
            settled=True,
        )
        phases["settle"] = round(time.monotonic() - wall - phases["run"], 1)
        await stack.stop_reconciling()
        names = vm_names(plan.snapshot(), pools)
        final = await asyncio.to_thread(observe, stack.cloud, set(pools), names)
        forge_stats, deliveries, arm_requests = await asyncio.to_thread(_forge_records, stack)
        github_requests = await asyncio.to_thread(stack.cloud.github.request_counts)
        github_rate_limits = await asyncio.to_thread(stack.cloud.github.rate_limits)
    finally:
        kills = stack.switch.report() if stack.switch is not None else []
        await stack.stop()
    return RunRecord(
        plan,
        final,
        phases,
        ended,
        forge_stats,
        kills,
        deliveries,
        arm_requests,
        github_requests,
        github_rate_limits,
    )


def _forge_records(
    stack: BenchStack,
) -> tuple[dict[str, dict[str, int]], list[dict[str, Any]], list[dict[str, Any]]]:
    """The forges' counters and webhook attempts, and ARM's request log."""
    cloud = stack.cloud
    stats = {"github": cloud.github.stats(), "gitlab": cloud.gitlab.stats()}
    deliveries = [{"forge": "github", **d} for d in cloud.github.deliveries()]
    deliveries += [{"forge": "gitlab", **d} for d in cloud.gitlab.deliveries()]
    return stats, deliveries, cloud.arm.request_log()


async def _wait(
    stack: BenchStack,
    plan: Plan,
    *,
    queueing: asyncio.Task[Plan] | None,
    pools: dict[str, Forge],
    until: float,
    stall_s: float,
    say: Callable[[str], None],
    settled: bool = False,
) -> str:
    """Until every planned job finished (and, when `settled`, nothing of ours is left), nothing moves
    for `stall_s`, or `until`; says which."""
    last_said = 0.0
    last_change, last_seen = time.monotonic(), ""
    while True:
        jobs = plan.snapshot()
        obs = await asyncio.to_thread(observe, stack.cloud, set(pools), vm_names(jobs, pools))
        queued_all = queueing is None or queueing.done()
        if queueing is not None and queueing.done() and queueing.exception() is not None:
            await queueing  # queueing the jobs failed: let it say why
        keys = list(jobs)
        done = queued_all and (obs.settled(keys) if settled else obs.finished(keys))
        now = time.monotonic()
        seen = obs.progress(keys)
        if seen != last_seen or not queued_all:
            last_change, last_seen = now, seen
        outcome = "finished" if done else "deadline" if now >= until else ""
        if not outcome and now - last_change >= stall_s:
            outcome = "stalled"
        if now - last_said >= 5.0 or outcome:
            say(("[settle] " if settled else "") + seen + (f" ({outcome})" if outcome else ""))
            last_said = now
        if outcome:
            return outcome
        await asyncio.sleep(1.0)
