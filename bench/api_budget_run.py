"""The GitHub API budget benchmark: one org of many repositories, a steady stream of jobs, the
reconciler every simulated minute, and what all of it costs in GitHub REST requests.

Every figure about requests is the simulated GitHub's own count (its request log and its
per-installation budget), never the service's.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from bench.measure import job_figures
from bench.naive_scan import NaiveGitHubFeed
from bench.pools import JobShape, PoolSpec, pools_environment, wide_runner_topology
from bench.run import Bounds, Workload, run_workload
from bench.stack import BenchStack, ReconcileCadence
from runner_fleet.adapters.github.auth import GitHubAuth, GitHubClientOptions
from runner_fleet.ports.feeds import JobFeed
from simulator.arm import ArmConfig, Timing
from simulator.github import Repository, WebhookFaults
from simulator.stack import (
    DEMO_GROUP_ORG_WIDE,
    DEMO_INSTALLATION_ID,
    DEMO_ORG,
    demo_github_config,
    demo_gitlab_config,
)

POOL = "gh-org"
LABELS = ("aks-prod",)
TIME_NOTE = (
    "per-hour figures are per simulated hour of load (the time the jobs were being queued); the "
    "simulators' clock runs time_scale times faster than real time, and the reconciler runs every "
    "simulated minute (60/time_scale real seconds)"
)
# Calls by route, named by what the service does with them.
KINDS = {
    "POST /orgs/{org}/actions/runners/generate-jitconfig": "jit_registration",
    "POST /repos/{owner}/{repo}/actions/runners/generate-jitconfig": "jit_registration",
    "GET /orgs/{org}/actions/runners": "runner_list",
    "GET /repos/{owner}/{repo}/actions/runners": "runner_list",
    "GET /orgs/{org}/actions/runners/{runner_id}": "runner_get",
    "GET /repos/{owner}/{repo}/actions/runners/{runner_id}": "runner_get",
    "DELETE /orgs/{org}/actions/runners/{runner_id}": "runner_delete",
    "DELETE /repos/{owner}/{repo}/actions/runners/{runner_id}": "runner_delete",
    "GET /repos/{owner}/{repo}/actions/runs": "runs_list",
    "GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs": "run_jobs_list",
    # A provision reads its job (and, unless the repository is known private, the job's run) first;
    # a release reads the job again to confirm it ended.
    "GET /repos/{owner}/{repo}/actions/jobs/{job_id}": "job_read",
    "GET /repos/{owner}/{repo}/actions/runs/{run_id}": "run_read",
    "GET /orgs/{org}/actions/runner-groups/{runner_group_id}": "runner_group",
    "GET /orgs/{org}/actions/runner-groups/{runner_group_id}/repositories": "runner_group",
    "GET /app/hook/deliveries": "deliveries_list",
    "POST /app/hook/deliveries/{delivery_id}/attempts": "redelivery",
    "POST /app/installations/{installation_id}/access_tokens": "installation_token",
    "GET /orgs/{org}/installation": "installation_lookup",
    "GET /installation/repositories": "repositories",
    "GET /rate_limit": "rate_limit",
}
JIT_ROUTES = [route for route, kind in KINDS.items() if kind == "jit_registration"]
Counts = dict[str, dict[str, int]]


@dataclass(frozen=True)
class ApiBudgetSettings:
    repositories: int = 200
    jobs_per_hour: int = 1000
    simulated_hours: float = 1.0
    time_scale: float = 10.0
    webhook_drop: float = 0.05
    max_runners: int = 100
    job_duration_s: tuple[float, float] = (30.0, 90.0)  # simulated
    scan: Literal["budgeted", "naive"] = "budgeted"
    settle_s: float = 60.0
    stall_s: float = 90.0
    max_seconds: float | None = None  # default: the load, plus ten simulated minutes, plus settle_s
    # One host instance runs 12 provisions at a time, each waiting for a VM create of 40 s
    # (simulated): 0.3 x time_scale jobs a real second, barely above the load's 0.28 x time_scale.
    # Its backlog would keep jobs queued for minutes and inflate what the scan finds.
    instances: int = 2
    seed: int = 3
    cadence: ReconcileCadence = field(default_factory=ReconcileCadence)

    @property
    def jobs(self) -> int:
        return round(self.jobs_per_hour * self.simulated_hours)

    @property
    def load_s(self) -> float:
        """Real seconds the jobs are queued over: the simulated hours of load."""
        return self.simulated_hours * 3600.0 / self.time_scale

    @property
    def bound_s(self) -> float:
        return self.max_seconds or self.load_s + 600.0 / self.time_scale + self.settle_s + 60.0


def _specs(settings: ApiBudgetSettings) -> list[PoolSpec]:
    """One org-wide pool; one job shape per repository, in a seeded order, so that queueing them
    round-robin spreads the jobs evenly over the repositories in no particular order."""
    names = [f"repo-{i:03d}" for i in range(settings.repositories)]
    random.Random(settings.seed).shuffle(names)
    base = PoolSpec(
        POOL,
        "github",
        LABELS,
        {"org": DEMO_ORG, "runner_group_id": DEMO_GROUP_ORG_WIDE},
        ("Standard_D2ads_v5",),
        settings.max_runners,
        JobShape(POOL, "github", ("self-hosted", *LABELS), repository=names[0]),
    )
    # Same pool, one shape per repository: run_workload queues its specs' shapes round-robin.
    return [replace(base, shape=replace(base.shape, repository=name)) for name in names]


def _github_config(settings: ApiBudgetSettings) -> Any:
    return demo_github_config(
        repositories=tuple(
            Repository(DEMO_ORG, f"repo-{i:03d}", 82100000 + i) for i in range(settings.repositories)
        ),
        faults=WebhookFaults(drop_probability=settings.webhook_drop),
        seed=settings.seed,
    )


def _arm_config(settings: ApiBudgetSettings) -> ArmConfig:
    return ArmConfig(
        topology=wide_runner_topology(),
        timing=Timing(
            latency_ms=(15.0, 60.0), provisioning_s=40.0, boot_s=25.0, delete_s=20.0, poll_interval_s=5.0
        ),
        seed=settings.seed,
    )


def _use_naive_scan(stack: BenchStack) -> None:
    settings = stack.rt.settings
    key = settings.github_app_private_key

    def build() -> JobFeed:
        auth = GitHubAuth(
            GitHubClientOptions(base_url=settings.github_api_url),
            app_id=settings.github_app_id,
            private_key=key.get_secret_value() if key else None,
        )
        return NaiveGitHubFeed(
            auth,
            base_url=settings.github_api_url,
            app_id=settings.github_app_id,
            private_key=key.get_secret_value() if key else None,
        )

    stack.rt.feed_factories = {**stack.rt.feed_factories, "github": build}


def _total(counts: Counts) -> int:
    return sum(sum(statuses.values()) for statuses in counts.values())


def _delta(after: Counts, before: Counts) -> Counts:
    out: Counts = {}
    for route, statuses in after.items():
        for status, count in statuses.items():
            left = count - before.get(route, {}).get(status, 0)
            if left:
                out.setdefault(route, {})[status] = left
    return out


def request_figures(load: Counts, hours: float) -> dict[str, Any]:
    """Requests per simulated hour, in all and by kind of call (and by answer status)."""
    by_kind: dict[str, float] = {}
    by_status: dict[str, dict[str, float]] = {}
    for route, statuses in load.items():
        kind = KINDS.get(route, f"other: {route}")
        by_kind[kind] = by_kind.get(kind, 0.0) + sum(statuses.values()) / hours
        for status, count in statuses.items():
            entry = by_status.setdefault(kind, {})
            entry[status] = entry.get(status, 0.0) + count / hours
    not_modified = sum(statuses.get("304", 0) for statuses in load.values())
    return {
        "requests_per_hour": round(_total(load) / hours),
        "not_modified_per_hour": round(not_modified / hours),
        "by_kind": {kind: round(value) for kind, value in sorted(by_kind.items(), key=lambda kv: -kv[1])},
        "by_kind_status": {
            kind: {status: round(value) for status, value in sorted(statuses.items())}
            for kind, statuses in sorted(by_status.items())
        },
    }


async def _counts(stack: BenchStack) -> tuple[Counts, dict[str, dict[str, Any]]]:
    github = stack.cloud.github
    return await asyncio.to_thread(github.request_counts), await asyncio.to_thread(github.rate_limits)


async def run_api_budget(
    settings: ApiBudgetSettings, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    say = progress or (lambda _line: None)
    started = time.monotonic()
    specs = _specs(settings)
    cadence = replace(settings.cadence, every_s=60.0 / settings.time_scale)
    stack = await BenchStack.start(
        time_scale=settings.time_scale,
        arm_config=_arm_config(settings),
        github_config=_github_config(settings),
        gitlab_config=demo_gitlab_config(seed=settings.seed),
        environment=pools_environment((specs[0],)),
        instances=settings.instances,
    )
    if settings.scan == "naive":
        _use_naive_scan(stack)
    say(
        f"service on {stack.url}; {settings.repositories} repositories; {settings.jobs} jobs over "
        f"{settings.simulated_hours:g} simulated h; scan {settings.scan}; time scale {settings.time_scale:g}"
    )
    marks: dict[str, tuple[Counts, dict[str, dict[str, Any]]]] = {"start": await _counts(stack)}

    async def mark_end_of_load() -> None:
        await asyncio.sleep(settings.load_s)  # the load's end, to measure the requests made under it
        marks["end"] = await _counts(stack)

    marking = asyncio.create_task(mark_end_of_load())
    record = await run_workload(
        stack,
        specs,
        Workload(
            settings.jobs,
            settings.jobs / settings.load_s,
            settings.job_duration_s,
            settings.seed,
        ),
        cadence,
        Bounds(settings.bound_s - (time.monotonic() - started), settings.settle_s, settings.stall_s),
        say=say,
    )
    if not marking.done():
        # The run ended before the load did (its time bound): measure up to the end of the run.
        marking.cancel()
        marks["end"] = (record.github_requests, record.github_rate_limits)
    key = f"installation:{DEMO_INSTALLATION_ID}"
    load = _delta(marks["end"][0], marks["start"][0])
    charged = marks["end"][1].get(key, {}).get("charged_total", 0)
    charged -= marks["start"][1].get(key, {}).get("charged_total", 0)
    budget = record.github_rate_limits.get(key, {})
    jobs = job_figures(record.plan.keys, record.final, settings.time_scale)
    refused = sum(
        count
        for route in JIT_ROUTES
        for status, count in record.github_requests.get(route, {}).items()
        if status in {"403", "429"}
    )
    return {
        **request_figures(load, settings.simulated_hours),
        "budget_per_hour": budget.get("limit"),
        "installation_requests_per_hour": round(charged / settings.simulated_hours),
        "min_remaining": budget.get("lowest_remaining"),
        "registrations_refused": refused,
        "lost": jobs["lost"],
        "jobs": jobs["jobs"],
        "ran": jobs["ran"],
        "lost_jobs": jobs["lost_jobs"],
        "p95_queue_to_running_sim_s": jobs["p95_queue_to_running_sim_s"],
        "max_queue_to_running_sim_s": jobs["max_queue_to_running_sim_s"],
        "repositories": settings.repositories,
        "jobs_per_hour": settings.jobs_per_hour,
        "webhook_drop": settings.webhook_drop,
        "scan": settings.scan,
        "time_scale": settings.time_scale,
        "simulated_hours": settings.simulated_hours,
        "time_note": TIME_NOTE,
        "reconciler": cadence.describe(60) | stack.tally.as_dict(),
        "forge_stats": record.forge_stats.get("github", {}),
        "phases_ended": record.ended,
        "wall_s": round(time.monotonic() - started, 1),
    }
