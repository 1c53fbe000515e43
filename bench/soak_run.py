"""The fault-injection soak: many jobs on both forges while everything that can go wrong does.

Injected: ARM 429s (with Retry-After), 5xx and timeouts (held requests answered 504, and dropped
connections) on every ARM call; VMs that reach Succeeded but never boot; GitHub and GitLab webhooks
dropped, duplicated and reordered; workers killed in the middle of provisioning (`killer`). ARM
throttling stays on with its default (Azure's published) limits. The reconciler runs throughout
and, once every job has finished or the run's time is up, is left to settle (bounded).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.cli import StorageKind
from bench.killer import KillSwitch
from bench.measure import job_figures, per_pool, vm_figures
from bench.pools import TIMEOUTS, bench_pools, pools_environment, wide_runner_topology
from bench.run import Bounds, Workload, run_workload
from bench.stack import BenchStack, ReconcileCadence
from runner_fleet import runtime
from simulator.arm import ArmConfig, FaultRule, NeverBoot, Timing
from simulator.github import WebhookFaults
from simulator.gitlab import WebhookFaults as GitLabWebhookFaults
from simulator.stack import demo_github_config, demo_gitlab_config

TIME_NOTE = (
    "times are real seconds; the simulators' clock runs time_scale times faster (a 40 s VM create "
    "takes 40/time_scale s); *_sim_s figures are the real ones multiplied back by time_scale"
)
# How long a dead host's message stays leased before it is handed out again (simulated seconds;
# the Functions host leases a message for 10 minutes while its function runs).
HOST_LEASE_S = 600.0


@dataclass(frozen=True)
class SoakSettings:
    jobs: int = 200
    time_scale: float = 20.0
    per_second: float = 3.0  # jobs queued per real second (one host instance serves about four)
    max_seconds: float = 600.0  # the whole run, settling included
    settle_s: float = 90.0  # reserved at the end for the reconciler to settle
    stall_s: float = 90.0  # stop waiting once nothing has moved for this long
    instances: int = 1  # function host instances sharing the queues
    storage: StorageKind = "memory"  # the queue and state table: shared in memory, or Azurite
    job_duration_s: tuple[float, float] = (30.0, 90.0)  # simulated
    arm_fault_rate: float = 0.03  # share of ARM requests failed (429 half, 5xx 30 %, timeouts 20 %)
    never_boot: float = 0.02
    never_boot_count: int = 0  # besides the probability: this many of the first VMs never boot
    webhook_drop: float = 0.05
    webhook_duplicate: float = 0.05
    webhook_reorder: float = 0.05
    kills: int | None = None  # default: max(2, jobs // 100)
    max_runners: int = 80
    small_pool_max: int = 6
    cadence: ReconcileCadence = field(default_factory=ReconcileCadence)
    seed: int = 5

    @property
    def kill_count(self) -> int:
        return self.kills if self.kills is not None else max(2, self.jobs // 100)


def arm_faults(rate: float) -> list[FaultRule]:
    """Request-level faults on every ARM path; each rule takes its share of `rate`."""
    if rate <= 0:
        return []
    return [
        FaultRule(probability=rate * 0.5, status=429, code="TooManyRequests", retry_after_s=10.0),
        FaultRule(probability=rate * 0.15, status=500, code="InternalServerError"),
        FaultRule(probability=rate * 0.15, status=503, code="ServiceUnavailable"),
        FaultRule(probability=rate * 0.1, action="timeout", hold_s=30.0),
        FaultRule(probability=rate * 0.1, action="timeout", hold_s=30.0, close_connection=True),
    ]


def _arm_config(settings: SoakSettings) -> ArmConfig:
    return ArmConfig(
        topology=wide_runner_topology(),
        timing=Timing(
            latency_ms=(15.0, 60.0), provisioning_s=40.0, boot_s=25.0, delete_s=20.0, poll_interval_s=5.0
        ),
        faults=arm_faults(settings.arm_fault_rate),
        never_boot=NeverBoot(probability=settings.never_boot, count=settings.never_boot_count),
        request_log_size=1000,
        seed=settings.seed,
    )


def _describe(rule: FaultRule) -> dict[str, Any]:
    if rule.action == "timeout":
        what = "connection dropped" if rule.close_connection else "504 GatewayTimeout"
        return {"probability": rule.probability, "fault": f"held {rule.hold_s:g} s (simulated), then {what}"}
    return {"probability": rule.probability, "fault": f"{rule.status} {rule.code}"}


def fault_settings(settings: SoakSettings) -> dict[str, Any]:
    return {
        "arm_request_fault_rate": settings.arm_fault_rate,
        "arm_faults": [_describe(rule) for rule in arm_faults(settings.arm_fault_rate)],
        "arm_throttling": "on (simulator defaults: Azure's published limits)",
        "never_boot_probability": settings.never_boot,
        "never_boot_first_vms": settings.never_boot_count,
        "webhook_drop_probability": settings.webhook_drop,
        "webhook_duplicate_probability": settings.webhook_duplicate,
        "webhook_reorder_probability": settings.webhook_reorder,
        "workers_killed": settings.kill_count,
    }


async def run_soak(settings: SoakSettings, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the soak and return its figures (see `measure` for the definitions)."""
    say = progress or (lambda _line: None)
    started = time.monotonic()
    specs = bench_pools(max_runners=settings.max_runners, small_pool_max=settings.small_pool_max)
    webhook = {
        "drop_probability": settings.webhook_drop,
        "duplicate_probability": settings.webhook_duplicate,
        "reorder_probability": settings.webhook_reorder,
    }
    redeliver_after_s = HOST_LEASE_S / settings.time_scale

    def switch(rt: runtime.Runtime) -> KillSwitch:
        return KillSwitch.spread(
            rt.queue, kills=settings.kill_count, jobs=settings.jobs, redeliver_after_s=redeliver_after_s
        )

    stack = await BenchStack.start(
        time_scale=settings.time_scale,
        arm_config=_arm_config(settings),
        github_config=demo_github_config(faults=WebhookFaults(**webhook), seed=settings.seed),
        # A job nobody picks up stays pending for a day, as on gitlab.com; the simulator's default
        # hour is three real minutes at this time scale.
        gitlab_config=demo_gitlab_config(
            faults=GitLabWebhookFaults(**webhook), seed=settings.seed, pending_timeout_s=24 * 3600.0
        ),
        environment=pools_environment(specs),
        instances=settings.instances,
        storage=settings.storage,
        kill_switch=switch if settings.kill_count > 0 else None,
    )
    say(f"service on {stack.url}; {len(specs)} pools; time scale {settings.time_scale:g}")
    record = await run_workload(
        stack,
        specs,
        Workload(settings.jobs, settings.per_second, settings.job_duration_s, settings.seed),
        settings.cadence,
        Bounds(settings.max_seconds - (time.monotonic() - started), settings.settle_s, settings.stall_s),
        say=say,
    )
    plan, final = record.plan, record.final
    return {
        **job_figures(plan.keys, final, settings.time_scale),
        **vm_figures(final, settings.time_scale),
        "per_pool": per_pool(plan.jobs, final),
        "wall_s": round(time.monotonic() - started, 1),
        "phases_s": record.phases_s,
        "phases_ended": record.ended,
        "time_scale": settings.time_scale,
        "time_note": TIME_NOTE,
        "faults": fault_settings(settings),
        "kills": record.kills,
        "kill_redelivery_after_s": round(redeliver_after_s, 1),
        "reconciler": settings.cadence.describe(TIMEOUTS["boot_timeout_s"]) | stack.tally.as_dict(),
        "pools": {spec.name: spec.max_runners for spec in specs},
        "instances": settings.instances,
        "storage": settings.storage,
        "invocations_per_instance": stack.invocations(),
        "queued_over_s": round((plan.last_at or 0) - (plan.first_at or 0), 1),
        "forge_stats": record.forge_stats,
    }
