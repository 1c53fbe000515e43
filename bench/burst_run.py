"""The burst: N jobs queued within seconds against ARM's throttles (Azure's published limits).

Measured: how long until every job's VM create was accepted (the VM exists in ARM from the moment
its PUT is admitted), against the least time the throttles allow for N creates; the service's
webhook answer latency while it happens (as the forges measured it, per delivery); and, once the
jobs have run and the reconciler has settled, lost jobs and duplicate VMs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from bench.cli import StorageKind
from bench.measure import job_figures, percentile, vm_figures
from bench.observe import Observation
from bench.pools import TIMEOUTS, bench_pools, pools_environment, wide_runner_topology
from bench.run import Bounds, RunRecord, Workload, run_workload
from bench.stack import BenchStack, ReconcileCadence
from simulator.arm import ArmConfig, BucketSpec, ThrottleConfig, Timing
from simulator.github.config import jit_floor_s
from simulator.stack import demo_github_config, demo_gitlab_config

TIME_NOTE = (
    "times are real seconds; the simulators' clock (and so ARM's token buckets) runs time_scale times "
    "faster; *_sim_s figures are in simulated seconds, comparable with Azure's published limits"
)


@dataclass(frozen=True)
class BurstSettings:
    jobs: int = 1000
    time_scale: float = 20.0
    burst_s: float = 3.0  # all jobs are queued within this many real seconds
    max_seconds: float = 900.0
    settle_s: float = 90.0
    stall_s: float = 90.0  # stop waiting once nothing has moved for this long
    instances: int = 1
    storage: StorageKind = "memory"  # the queue and state table: shared in memory, or Azurite
    job_duration_s: tuple[float, float] = (30.0, 90.0)
    cadence: ReconcileCadence = field(default_factory=ReconcileCadence)
    seed: int = 11


def put_buckets(throttle: ThrottleConfig) -> dict[str, BucketSpec]:
    """Every bucket a VM create (PUT) draws a token from: ARM writes and Compute's PutVM groups."""
    return {"arm_writes": throttle.arm_writes, **throttle.compute.get("PutVM", {})}


def throttle_min_sim_s(creates: int, throttle: ThrottleConfig) -> float:
    """Least simulated time to admit `creates` PUTs, starting from full buckets.

    A bucket of capacity C refilling r tokens/s admits the k-th request at max(0, (k - C) / r);
    a request needs a token from every bucket, so the slowest bucket decides.
    """
    if not throttle.enabled:
        return 0.0
    worst = 0.0
    for spec in put_buckets(throttle).values():
        short = creates - spec.capacity
        if short > 0:
            worst = max(worst, short / spec.refill_per_s if spec.refill_per_s > 0 else math.inf)
    return worst


def _arm_config(settings: BurstSettings) -> ArmConfig:
    return ArmConfig(
        topology=wide_runner_topology(),
        timing=Timing(
            latency_ms=(15.0, 60.0), provisioning_s=40.0, boot_s=25.0, delete_s=20.0, poll_interval_s=5.0
        ),
        throttle=ThrottleConfig(),
        request_log_size=max(5000, settings.jobs * 40),
        seed=settings.seed,
    )


def acceptance(plan_keys: list[str], obs: Observation, started_at: float) -> dict[str, Any]:
    """When each job's first VM was accepted by ARM, relative to the first job queued.

    A job whose turn came after a runner made for another job had already taken it needs no VM
    of its own (runners take any job their labels fit): it is counted, not waited for.
    """
    first_vm: dict[str, float] = {}
    for vm in obs.vms:
        if vm.job is not None and vm.job not in first_vm:
            first_vm[vm.job] = vm.created_at
    accepted = [first_vm[key] - started_at for key in plan_keys if key in first_vm]
    return {
        "accepted_all_s": _round(max(accepted, default=None)),
        "accepted_p50_s": _round(percentile(accepted, 0.5)),
        "accepted_p95_s": _round(percentile(accepted, 0.95)),
        "vm_creates_accepted": len(accepted),
        "jobs_without_vm": len(plan_keys) - len(accepted),
    }


def webhook_latency(record: RunRecord, since: float, until: float) -> dict[str, Any]:
    """The service's answer time per delivery the forges made in [since, until] (dropped ones excluded)."""
    answered = [
        float(d["duration"]) * 1000
        for d in record.deliveries
        if since <= float(d["delivered_at"]) <= until and d.get("fault") != "drop"
    ]
    failed = [
        d
        for d in record.deliveries
        if since <= float(d["delivered_at"]) <= until and not 200 <= int(d.get("status_code") or 0) < 300
    ]
    return {
        "webhook_p50_ms": _round(percentile(answered, 0.5), 1),
        "webhook_p99_ms": _round(percentile(answered, 0.99), 1),
        "webhook_max_ms": _round(max(answered, default=None), 1),
        "webhook_deliveries_measured": len(answered),
        "webhook_deliveries_failed": len(failed),
    }


def arm_traffic(record: RunRecord, since: float, until: float) -> dict[str, Any]:
    """ARM requests in [since, until]: VM create attempts, and how many of them (and of all) got 429."""
    window = [r for r in record.arm_requests if since <= float(r.get("time") or 0) <= until]
    puts = [r for r in window if r.get("method") == "PUT" and "/virtualMachines/" in str(r.get("path"))]
    return {
        "vm_put_attempts": len(puts),
        "vm_put_throttled": sum(1 for r in puts if r.get("status") == 429),
        "arm_requests": len(window),
        "arm_requests_throttled": sum(1 for r in window if r.get("status") == 429),
    }


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


async def run_burst(settings: BurstSettings, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    say = progress or (lambda _line: None)
    started = time.monotonic()
    # Room for every job of a pool at once (the jobs are spread evenly over the pools), so no job
    # waits for a slot; the pools together must still fit the runner subnet, or the preflight refuses.
    pools = bench_pools(max_runners=1, small_pool_max=1)
    capacity = min(1000, math.ceil(settings.jobs / len(pools)) + 10)
    specs = tuple(replace(spec, max_runners=capacity) for spec in pools)
    arm_config = _arm_config(settings)
    github_config = demo_github_config(seed=settings.seed)
    stack = await BenchStack.start(
        time_scale=settings.time_scale,
        arm_config=arm_config,
        github_config=github_config,
        gitlab_config=demo_gitlab_config(seed=settings.seed, pending_timeout_s=24 * 3600.0),
        environment=pools_environment(specs),
        instances=settings.instances,
        storage=settings.storage,
    )
    say(f"service on {stack.url}; {len(specs)} pools; time scale {settings.time_scale:g}")
    record = await run_workload(
        stack,
        specs,
        Workload(settings.jobs, settings.jobs / settings.burst_s, settings.job_duration_s, settings.seed),
        settings.cadence,
        Bounds(settings.max_seconds - (time.monotonic() - started), settings.settle_s, settings.stall_s),
        say=say,
    )
    plan, final = record.plan, record.final
    first = plan.first_at or 0.0
    accepted = acceptance(plan.keys, final, first)
    window_end = first + (accepted["accepted_all_s"] or (final.at - first))
    # The tightest floor: ARM's PUT throttles for every create, GitHub's registration limits for the
    # GitHub jobs (every pool of the bench registers in one organisation, through one credential).
    floors = {
        "arm_put": throttle_min_sim_s(settings.jobs, arm_config.throttle),
        "github_jit": jit_floor_s(sum(k.startswith("github:") for k in plan.keys), github_config),
    }
    minimum_sim = max(floors.values())
    jobs = job_figures(plan.keys, final, settings.time_scale)
    vms = vm_figures(final, settings.time_scale)
    return {
        "jobs": settings.jobs,
        "queued_over_s": round((plan.last_at or 0) - first, 2),
        **accepted,
        "throttle_min_s": round(minimum_sim / settings.time_scale, 2),
        "accepted_all_sim_s": _round(
            accepted["accepted_all_s"] * settings.time_scale if accepted["accepted_all_s"] else None, 1
        ),
        "throttle_min_sim_s": round(minimum_sim, 1),
        "throttle_floors_sim_s": {name: round(floor, 1) for name, floor in floors.items()},
        "accepted_over_floor": _round(
            accepted["accepted_all_s"] / (minimum_sim / settings.time_scale)
            if accepted["accepted_all_s"] and minimum_sim
            else None
        ),
        "throttle_buckets": {
            name: {"capacity": spec.capacity, "refill_per_s_sim": round(spec.refill_per_s, 4)}
            for name, spec in put_buckets(arm_config.throttle).items()
        },
        **webhook_latency(record, first, window_end),
        **arm_traffic(record, first, window_end),
        "lost": jobs["lost"],
        "duplicate_vms": vms["duplicate_vms"],
        "duplicates": vms["duplicates"],
        "ran": jobs["ran"],
        "lost_jobs": jobs["lost_jobs"],
        "p95_queue_to_running_s": jobs["p95_queue_to_running_s"],
        "max_queue_to_running_s": jobs["max_queue_to_running_s"],
        "vms_created": vms["vms_created"],
        "replacement_vms": vms["replacement_vms"],
        "leaked_vms": vms["leaked_vms"],
        "leaked_runners": vms["leaked_runners"],
        "vms_without_a_job": vms["vms_without_a_job"],
        "time_scale": settings.time_scale,
        "time_note": TIME_NOTE,
        "instances": settings.instances,
        "storage": settings.storage,
        "invocations_per_instance": stack.invocations(),
        "reconciler": settings.cadence.describe(TIMEOUTS["boot_timeout_s"]) | stack.tally.as_dict(),
        "wall_s": round(time.monotonic() - started, 1),
        "phases_s": record.phases_s,
        "phases_ended": record.ended,
    }
