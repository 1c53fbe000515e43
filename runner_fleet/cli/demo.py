"""`runner-fleet demo`: the whole lifecycle against the simulators, with live progress and a verdict.

Exit 0 only if every matched job ran, the job no pool serves was left alone, and no VM or runner
registration remains.
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
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from runner_fleet import logs, runtime
from runner_fleet.cli.serve import host_json_path
from runner_fleet.cli.simulated import simulated_runtime
from runner_fleet.host.hostjson import read_queue_settings
from runner_fleet.host.index import index_app
from runner_fleet.host.local import LocalHost
from runner_fleet.settings.pool import Pool

UNMATCHED_LABELS = ("self-hosted", "linux", "gpu-h100")


@dataclass
class Snapshot:
    jobs: list[dict[str, Any]]
    vms: list[dict[str, Any]]  # live ones
    deleted_vms: list[dict[str, Any]]
    runners: list[dict[str, Any]]
    at: float = field(default_factory=time.time)

    def live_vms(self) -> list[dict[str, Any]]:
        return self.vms

    def created_vm_names(self) -> set[str]:
        return {vm["name"] for vm in (*self.vms, *self.deleted_vms)}

    def live_runners(self) -> list[dict[str, Any]]:
        return [r for r in self.runners if not r.get("removed")]


@dataclass
class Plan:
    matched: dict[int, str]  # job id -> pool expected to serve it
    unmatched: int
    started: float
    time_scale: float = 1.0


def run(args: argparse.Namespace) -> int:
    from simulator.stack import SimulatedCloud

    log_path = Path(tempfile.gettempdir()) / f"runner-fleet-demo-{os.getpid()}.log"
    with log_path.open("w", encoding="utf-8") as log_file:
        logs.configure("json", stream=log_file)
        cloud = SimulatedCloud.start(time_scale=args.time_scale)
        try:
            rt = simulated_runtime(cloud, os.environ)
            runtime.install(rt)
            console = Console() if sys.stdout.isatty() else Console(width=110)
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
    secret = rt.settings.github_webhook_secret
    cloud.github.add_webhook(f"{url}/api/github", secret.get_secret_value() if secret else "")
    github_pools = [pool for pool in rt.pools if pool.forge == "github"]
    console.print(
        f"[bold]runner-fleet demo[/]: function app on {url}; ARM simulator {cloud.arm.base_url}; "
        f"GitHub simulator {cloud.github.base_url}"
    )
    console.print(f"pools: {', '.join(p.name for p in github_pools)}; structured logs: {log_path}")
    try:
        plan = await asyncio.to_thread(_queue_jobs, cloud, github_pools, args.jobs)
        plan.time_scale = args.time_scale
        final = await _watch(args, cloud, plan, console)
    finally:
        await host.stop()
        await rt.aclose()
    return _verdict(console, plan, final)


def _queue_jobs(cloud: Any, pools: list[Pool], count: int) -> Plan:
    rng = random.Random(7)  # noqa: S311 - varied job durations, reproducible from run to run
    matched: dict[int, str] = {}
    started = time.time()
    for i in range(count):
        pool = pools[i % len(pools)]
        org = pool.github.org if pool.github else "example-org"
        repo = pool.github.repositories[0] if pool.github and pool.github.repositories else "platform-deploy"
        job = cloud.github.queue_job(
            org,
            repo.split("/")[-1],
            ["self-hosted", *pool.labels],
            duration_s=round(rng.uniform(30.0, 90.0)),
            name=f"deploy-{i + 1}",
            workflow_name="Deploy",
        )
        matched[int(job["id"])] = pool.name
    pool = pools[0]
    org = pool.github.org if pool.github else "example-org"
    unmatched = cloud.github.queue_job(org, "platform-deploy", list(UNMATCHED_LABELS), name="train-model")
    return Plan(matched, int(unmatched["id"]), started)


def _snapshot(cloud: Any) -> Snapshot:
    return Snapshot(cloud.github.jobs(), cloud.arm.vms(), cloud.arm.deleted_vms(), cloud.github.runners())


def _settled(plan: Plan, snap: Snapshot) -> bool:
    by_id = {int(j["id"]): j for j in snap.jobs}
    done = all(by_id.get(job_id, {}).get("status") == "completed" for job_id in plan.matched)
    return done and not snap.live_vms() and not snap.live_runners()


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


def _counts(plan: Plan, snap: Snapshot) -> dict[str, int]:
    by_id = {int(j["id"]): j for j in snap.jobs}
    states = [by_id.get(job_id, {}).get("status", "?") for job_id in plan.matched]
    return {
        "queued": states.count("queued"),
        "running": states.count("in_progress"),
        "done": states.count("completed"),
        "vms": len(snap.live_vms()),
        "runners": len(snap.live_runners()),
    }


def _progress_line(plan: Plan, snap: Snapshot) -> str:
    c = _counts(plan, snap)
    return (
        f"[{snap.at - plan.started:5.1f}s] jobs: {c['queued']} queued, {c['running']} running, "
        f"{c['done']}/{len(plan.matched)} done | VMs: {c['vms']} | runner registrations: {c['runners']}"
    )


def _live_view(plan: Plan, snap: Snapshot) -> Group:
    return Group(Text(_progress_line(plan, snap)), _job_table(plan, snap, title="jobs"))


_STATUS = {"queued": "queued", "in_progress": "running", "completed": "done", "waiting": "waiting"}


def _job_table(plan: Plan, snap: Snapshot, *, title: str) -> Table:
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        caption="times: real seconds after the job was queued (simulated time runs faster: see --time-scale)",
        caption_justify="left",
    )
    table.add_column("job", no_wrap=True)
    table.add_column("pool", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for column in ("runner online", "running", "done"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("served by VM", no_wrap=True)
    by_id = {int(j["id"]): j for j in snap.jobs}
    live = {vm["name"] for vm in snap.vms}
    created = snap.created_vm_names()
    for job_id, pool in [*plan.matched.items(), (plan.unmatched, "(none)")]:
        job = by_id.get(job_id, {})
        queued = job.get("queued_at")
        runner = job.get("runner_name") or "-"
        if runner in created and runner not in live:
            runner += " (deleted)"
        table.add_row(
            str(job.get("name", job_id)),
            pool,
            _STATUS.get(str(job.get("status")), str(job.get("status", "?"))),
            _delta(queued, job.get("runner_connected_at")),
            _delta(queued, job.get("started_at")),
            _delta(queued, job.get("completed_at")),
            runner,
        )
    return table


def _delta(start: Any, end: Any) -> str:
    if not isinstance(start, (int, float)) or not isinstance(end, (int, float)):
        return "-"
    return f"+{end - start:.1f}s"


def _verdict(console: Console, plan: Plan, snap: Snapshot) -> int:
    console.print(_job_table(plan, snap, title="result"))
    by_id = {int(j["id"]): j for j in snap.jobs}
    problems = []
    not_run = [job_id for job_id in plan.matched if by_id.get(job_id, {}).get("conclusion") != "success"]
    if not_run:
        problems.append(f"{len(not_run)} matched job(s) did not run: {not_run}")
    unmatched = by_id.get(plan.unmatched, {})
    if unmatched.get("status") != "queued" or unmatched.get("runner_name"):
        problems.append("the job no pool serves was touched")
    created = snap.created_vm_names()
    if len(created) != len(plan.matched):
        problems.append(f"{len(created)} VMs were created for {len(plan.matched)} jobs")
    if snap.live_vms():
        problems.append(f"{len(snap.live_vms())} VM(s) left: {[vm['name'] for vm in snap.live_vms()]}")
    if snap.live_runners():
        problems.append(f"{len(snap.live_runners())} runner registration(s) left")
    served = {job.get("runner_name") for job_id, job in by_id.items() if job_id in plan.matched}
    waits = sorted(
        float(job["runner_connected_at"]) - float(job["queued_at"])
        for job_id, job in by_id.items()
        if job_id in plan.matched and job.get("runner_connected_at") and job.get("queued_at")
    )
    if waits:
        scale = plan.time_scale
        median, worst = waits[len(waits) // 2], waits[-1]
        console.print(
            f"queued -> runner online: median {median:.1f}s, max {worst:.1f}s real "
            f"(= {median * scale:.0f}s / {worst * scale:.0f}s simulated Azure time, time scale {scale:g})"
        )
    console.print(
        f"{len(plan.matched) - len(not_run)}/{len(plan.matched)} matched jobs ran on "
        f"{len(served - {None})} VMs "
        f"({len(created)} created); VMs left: {len(snap.live_vms())}; registrations left: "
        f"{len(snap.live_runners())}; unmatched job: {unmatched.get('status', '?')}, untouched"
        if not problems
        else "demo FAILED:\n  " + "\n  ".join(problems)
    )
    return 0 if not problems else 1
