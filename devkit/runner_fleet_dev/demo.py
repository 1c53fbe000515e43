"""`runner-fleet demo`: the whole lifecycle against the simulators, with live progress and a verdict.

GitHub Actions and GitLab CI jobs are queued side by side across the example pools, plus one job per
forge that no pool serves, and one job for each pool that fails its network preflight. Exit 0 only if
every matched job ran, the unmatched jobs were left alone, the refused pools' jobs got no VM and are
still queued, and no VM or runner registration remains. It ends with `runner-fleet status` as the
fleet is then (which does not change the exit code).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from runner_fleet import logs, runtime
from runner_fleet.cli.serve import host_json_path
from runner_fleet.host.hostjson import read_queue_settings
from runner_fleet.host.index import index_app
from runner_fleet.host.local import LocalHost
from runner_fleet.settings.pool import Pool
from runner_fleet_dev.simulated import connect_forges, simulated_runtime
from runner_fleet_dev.simulated_jobs import simulated_jobs

UNMATCHED_LABELS = ("self-hosted", "linux", "gpu-h100")
UNMATCHED_TAGS = ("gpu-h100",)


@dataclass(frozen=True)
class JobView:
    """One job of either forge, in the demo's terms."""

    key: str
    forge: str
    name: str
    status: str  # queued | running | done | failed | cancelled
    succeeded: bool
    runner: str | None
    queued_at: float | None
    online_at: float | None
    started_at: float | None
    done_at: float | None


@dataclass
class Snapshot:
    jobs: dict[str, JobView]
    vms: list[dict[str, Any]]  # live ones
    deleted_vms: list[dict[str, Any]]
    registrations: list[str]  # runner registrations that still exist, either forge
    at: float = field(default_factory=time.time)

    def created_vm_names(self) -> set[str]:
        return {vm["name"] for vm in (*self.vms, *self.deleted_vms)}


@dataclass
class Plan:
    matched: dict[str, str]  # job key -> pool expected to serve it
    unmatched: list[str]
    started: float
    time_scale: float = 1.0
    blocked: dict[str, str] = field(default_factory=dict)  # job key -> pool refused by the preflight
    refusals: dict[str, str] = field(default_factory=dict)  # pool -> why the preflight refused it


def run(args: argparse.Namespace) -> int:
    from simulator.stack import SimulatedCloud

    log_path = Path(tempfile.gettempdir()) / f"runner-fleet-demo-{os.getpid()}.log"
    with log_path.open("w", encoding="utf-8") as log_file:
        logs.configure("json", stream=log_file)
        cloud = SimulatedCloud.start(time_scale=args.time_scale)
        try:
            rt = simulated_runtime(cloud, os.environ)
            runtime.install(rt)
            console = Console() if sys.stdout.isatty() else Console(width=124)
            code = asyncio.run(_demo(args, rt, cloud, console, log_path))
        finally:
            runtime.install(None)
            cloud.stop()
    return code


async def _demo(
    args: argparse.Namespace, rt: runtime.Runtime, cloud: Any, console: Console, log_path: Path
) -> int:
    host = LocalHost(index_app(), rt.queue, read_queue_settings(host_json_path()), port=0)
    url = await host.start()
    connect_forges(cloud, rt, url)
    console.print(
        f"[bold]runner-fleet demo[/]: function app on {url}\n"
        f"  simulators: ARM {cloud.arm.base_url}, GitHub {cloud.github.base_url}, "
        f"GitLab {cloud.gitlab.base_url}\n"
        f"  pools: {', '.join(f'{p.name} ({p.forge})' for p in rt.pools)}; time scale {args.time_scale:g}x\n"
        f"  structured logs: {log_path}"
    )
    try:
        refusals = await _refused_pools(rt, console)
        plan = await asyncio.to_thread(_queue_jobs, cloud, list(rt.pools), args.jobs, set(refusals))
        plan.time_scale = args.time_scale
        plan.refusals = refusals
        final = await _watch(args, cloud, plan, console)
        await host.stop()  # no reconcile round of the service's while the status reads the fleet
        fleet = await _fleet_status(rt, console.width)
    finally:
        await host.stop()
        await rt.aclose()
    code = _verdict(console, plan, final)
    console.print(fleet)
    return code


async def _fleet_status(rt: runtime.Runtime, width: int) -> RenderableType:
    """`runner-fleet status` as the demo leaves the fleet (it does not change the demo's verdict)."""
    from runner_fleet.cli import status

    try:
        return status.render(await asyncio.wait_for(status.read(rt), timeout=60), width=width)
    except Exception as exc:
        return Text(
            f"runner-fleet status: could not read the fleet: {type(exc).__name__}: {logs.scrub(str(exc))}"
        )


async def _refused_pools(rt: runtime.Runtime, console: Console) -> dict[str, str]:
    """The pools the network preflight refuses, with why (the gate caches this for the provisioner)."""
    gate = rt.preflight
    refused: dict[str, str] = {}
    if gate is None:
        return refused
    for pool in rt.pools:
        report = await gate.check(pool)
        if not report.ok:
            refused[pool.name] = "; ".join(f"{c.name}: {c.message}" for c in report.failures)
            console.print(f"  preflight refuses pool {pool.name}: {refused[pool.name]}")
    return refused


def _queue_job(cloud: Any, pool: Pool, i: int, duration: float, name: str) -> str | None:
    from simulator.stack import DEMO_GITLAB_PROJECT_ID

    if pool.github is not None:
        repo = pool.github.repositories[0].split("/")[-1] if pool.github.repositories else "platform-deploy"
        job = cloud.github.queue_job(
            pool.github.org,
            repo,
            ["self-hosted", *pool.labels],
            duration_s=duration,
            name=name,
            workflow_name="Deploy",
        )
        return f"gh-{job['id']}"
    if pool.gitlab is not None:
        project = pool.gitlab.project_id or DEMO_GITLAB_PROJECT_ID
        tags = list(pool.labels[: 1 + i % len(pool.labels)])
        job = cloud.gitlab.create_job(project, tags, duration_s=duration, name=name)
        return f"gl-{job['id']}"
    return None


def _queue_jobs(cloud: Any, pools: list[Pool], count: int, refused: set[str] | None = None) -> Plan:
    from simulator.stack import DEMO_GITLAB_PROJECT_ID

    rng = random.Random(7)  # noqa: S311 - varied job durations, reproducible from run to run
    matched: dict[str, str] = {}
    started = time.time()
    serving = [p for p in pools if p.name not in (refused or set())]
    for i in range(count if serving else 0):
        pool = serving[i % len(serving)]
        key = _queue_job(cloud, pool, i, round(rng.uniform(30.0, 90.0)), f"deploy-{i + 1}")
        if key is not None:
            matched[key] = pool.name
    blocked: dict[str, str] = {}
    for pool in pools:
        if pool.name in (refused or set()):
            key = _queue_job(cloud, pool, 0, 30.0, f"deploy-{pool.name}")
            if key is not None:
                blocked[key] = pool.name
    unmatched: list[str] = []
    github_pool = next((p for p in pools if p.github is not None), None)
    if github_pool is not None and github_pool.github is not None:
        job = cloud.github.queue_job(
            github_pool.github.org, "platform-deploy", list(UNMATCHED_LABELS), name="train"
        )
        unmatched.append(f"gh-{job['id']}")
    if any(p.gitlab is not None for p in pools):
        job = cloud.gitlab.create_job(DEMO_GITLAB_PROJECT_ID, list(UNMATCHED_TAGS), name="train")
        unmatched.append(f"gl-{job['id']}")
    return Plan(matched, unmatched, started, blocked=blocked)


def _snapshot(cloud: Any) -> Snapshot:
    gitlab_runners = cloud.gitlab.runners()
    jobs: dict[str, JobView] = {}
    for job in simulated_jobs(cloud, gitlab_runners):
        key = f"{'gh' if job.forge == 'github' else 'gl'}-{job.id}"
        jobs[key] = JobView(
            key,
            job.forge,
            job.name,
            "cancelled" if job.phase == "canceled" else job.phase,
            job.succeeded,
            job.runner,
            job.queued_at,
            job.connected_at,
            job.started_at,
            job.finished_at,
        )
    registrations = [r["name"] for r in cloud.github.runners() if not r.get("removed")]
    registrations += [r["description"] for r in gitlab_runners if not r.get("deleted")]
    return Snapshot(jobs, cloud.arm.vms(), cloud.arm.deleted_vms(), registrations)


def _settled(plan: Plan, snap: Snapshot) -> bool:
    finished = all(
        snap.jobs[key].status in {"done", "failed", "cancelled"} for key in plan.matched if key in snap.jobs
    )
    return finished and not snap.vms and not snap.registrations


async def _watch(args: argparse.Namespace, cloud: Any, plan: Plan, console: Console) -> Snapshot:
    deadline = time.monotonic() + args.timeout
    snap = await asyncio.to_thread(_snapshot, cloud)
    if args.plain or not console.is_terminal:
        last = ""
        while not _settled(plan, snap) and time.monotonic() < deadline:
            line = _progress_line(plan, snap)
            if line != last:
                console.print(line)
                last = line
            await asyncio.sleep(0.5)
            snap = await asyncio.to_thread(_snapshot, cloud)
        console.print(_progress_line(plan, snap))
        return snap
    with Live(_live_view(plan, snap), console=console, refresh_per_second=4, transient=True) as live:
        while not _settled(plan, snap) and time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            snap = await asyncio.to_thread(_snapshot, cloud)
            live.update(_live_view(plan, snap))
    return snap


def _progress_line(plan: Plan, snap: Snapshot) -> str:
    states = [snap.jobs[key].status if key in snap.jobs else "?" for key in plan.matched]
    return (
        f"[{snap.at - plan.started:5.1f}s] jobs: {states.count('queued')} queued, "
        f"{states.count('running')} running, "
        f"{states.count('done')}/{len(plan.matched)} done | VMs: {len(snap.vms)} | "
        f"runner registrations: {len(snap.registrations)}"
    )


def _live_view(plan: Plan, snap: Snapshot) -> Group:
    return Group(Text(_progress_line(plan, snap)), _job_table(plan, snap, title="jobs"))


def _job_table(plan: Plan, snap: Snapshot, *, title: str) -> Table:
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        caption="times: real seconds after the job was queued (simulated time runs faster: see --time-scale)",
        caption_justify="left",
    )
    for column in ("job", "forge", "pool", "status"):
        table.add_column(column, no_wrap=True)
    for column in ("runner online", "running", "done"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("served by VM", no_wrap=True)
    live = {vm["name"] for vm in snap.vms}
    created = snap.created_vm_names()
    for key, pool in [
        *plan.matched.items(),
        *plan.blocked.items(),
        *((key, "(none)") for key in plan.unmatched),
    ]:
        job = snap.jobs.get(key)
        if job is None:
            continue
        runner = job.runner or "-"
        if runner in created and runner not in live:
            runner += " (deleted)"
        table.add_row(
            job.name,
            job.forge,
            pool,
            job.status,
            _delta(job.queued_at, job.online_at),
            _delta(job.queued_at, job.started_at),
            _delta(job.queued_at, job.done_at),
            runner,
        )
    return table


def _delta(start: Any, end: Any) -> str:
    if not isinstance(start, (int, float)) or not isinstance(end, (int, float)):
        return "-"
    return f"+{end - start:.1f}s"


def _verdict(console: Console, plan: Plan, snap: Snapshot) -> int:
    console.print(_job_table(plan, snap, title="result"))
    problems = []
    not_run = [key for key in plan.matched if not (key in snap.jobs and snap.jobs[key].succeeded)]
    if not_run:
        problems.append(f"{len(not_run)} matched job(s) did not run: {not_run}")
    touched = [key for key in plan.unmatched if snap.jobs[key].status != "queued" or snap.jobs[key].runner]
    if touched:
        problems.append(f"job(s) no pool serves were touched: {touched}")
    problems += _refused_problems(console, plan, snap)
    created = snap.created_vm_names()
    if len(created) != len(plan.matched):
        problems.append(f"{len(created)} VMs were created for {len(plan.matched)} jobs")
    if snap.vms:
        problems.append(f"{len(snap.vms)} VM(s) left: {[vm['name'] for vm in snap.vms]}")
    if snap.registrations:
        problems.append(f"{len(snap.registrations)} runner registration(s) left: {snap.registrations}")
    waits = sorted(
        float(job.online_at) - float(job.queued_at)
        for key in plan.matched
        if (job := snap.jobs.get(key)) is not None and job.online_at and job.queued_at
    )
    if waits:
        scale = plan.time_scale
        median, worst = waits[len(waits) // 2], waits[-1]
        console.print(
            f"queued -> runner online: median {median:.1f}s, max {worst:.1f}s real "
            f"(= {median * scale:.0f}s / {worst * scale:.0f}s simulated Azure time, time scale {scale:g})"
        )
    if problems:
        console.print("demo FAILED:\n  " + "\n  ".join(problems))
        return 1
    forges = sorted({snap.jobs[key].forge for key in plan.matched})
    console.print(
        f"{len(plan.matched)}/{len(plan.matched)} matched jobs ({' + '.join(forges)}) ran on "
        f"{len(created)} fresh VMs; VMs left: 0; runner registrations left: 0; "
        f"{len(plan.unmatched)} job(s) no pool serves left queued and untouched"
        + (
            f"; {len(plan.blocked)} job(s) for pools failing the preflight left queued with no VM"
            if plan.blocked
            else ""
        )
    )
    return 0


def _refused_problems(console: Console, plan: Plan, snap: Snapshot) -> list[str]:
    """A pool failing its preflight must get no VM, and its job must wait (queued, not dropped)."""
    problems = []
    vm_pools = {str((vm.get("tags") or {}).get("pool")) for vm in (*snap.vms, *snap.deleted_vms)}
    for key, pool in plan.blocked.items():
        job = snap.jobs.get(key)
        if job is None or job.status != "queued" or job.runner:
            problems.append(f"job {key} of pool {pool}, which fails its preflight, did not stay queued")
        if pool in vm_pools:
            problems.append(f"a VM was created for pool {pool}, which fails its preflight")
        if job is not None:
            console.print(
                f"{job.name} (pool {pool}): {job.status}, no VM; preflight: {plan.refusals.get(pool, '?')}"
            )
    return problems
