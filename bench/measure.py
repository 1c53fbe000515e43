"""The figures: lost jobs, duplicate VMs, leaks, queued -> running latency, idle VM-seconds.

Definitions (all from the simulators' records, never from the service's own account):
- lost: a planned job that never started running;
- failed: a job that started and ended without success: no job of the workload fails by itself, so
  its runner's VM went away under it (GitHub fails such a job when its lock lapses);
- duplicate VM: a second (third, ...) VM created for a job (its `job` tag) while an earlier VM for
  that job still existed, or after the job had already started running. A later VM for a job that
  was still waiting after its earlier VM was gone (it never booted and was reaped, or it ran another
  job of the same pool: runners take any job their labels fit) is counted apart as a replacement:
  that is recovery, not duplication. VMs that never ran any job are counted too (the real waste);
- leaked: VMs of ours and runner registrations of ours that still exist at the end;
- idle VM-seconds: the time VMs existed without running a job (boot included), split into before the
  job, after it, and VMs that never ran one.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from bench.observe import Observation, VmSeen


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def job_figures(keys: list[str], obs: Observation, time_scale: float) -> dict[str, Any]:
    seen = [obs.jobs[key] for key in keys if key in obs.jobs]
    started = [job for job in seen if job.started_at is not None]
    lost = sorted(key for key in keys if key not in obs.jobs or obs.jobs[key].started_at is None)
    waits = [
        float(job.started_at) - float(job.queued_at)
        for job in started
        if job.started_at is not None and job.queued_at is not None
    ]
    p50, p95, worst = percentile(waits, 0.5), percentile(waits, 0.95), max(waits, default=None)
    return {
        "jobs": len(keys),
        "ran": len(started),
        "succeeded": sum(1 for job in seen if job.succeeded),
        "failed": sum(1 for job in started if job.status == "failed"),
        "lost": len(lost),
        "lost_jobs": lost_details(keys, obs),
        "p50_queue_to_running_s": _r(p50),
        "p95_queue_to_running_s": _r(p95),
        "max_queue_to_running_s": _r(worst),
        "p95_queue_to_running_sim_s": _r(p95 * time_scale if p95 is not None else None, 1),
        "max_queue_to_running_sim_s": _r(worst * time_scale if worst is not None else None, 1),
    }


def lost_details(keys: list[str], obs: Observation, limit: int = 20) -> list[dict[str, Any]]:
    """For each lost job: its forge status and the VMs made for it, with the jobs those VMs ran."""
    ran_by: dict[str, list[str]] = defaultdict(list)
    for seen in obs.jobs.values():
        if seen.runner and seen.started_at is not None:
            ran_by[seen.runner].append(seen.key)
    details = []
    for key in keys:
        job = obs.jobs.get(key)
        if job is not None and job.started_at is not None:
            continue
        vms = [
            {
                "vm": vm.name,
                "created_at": round(vm.created_at, 2),
                "deleted_at": round(vm.deleted_at, 2) if vm.deleted_at else None,
                "never_boot": vm.never_boot,
                "ran": ran_by.get(vm.name, []),
            }
            for vm in obs.vms
            if vm.job == key
        ]
        details.append({"job": key, "status": job.status if job else "never queued", "vms": vms})
        if len(details) == limit:
            break
    return details


def per_pool(jobs: dict[str, str], obs: Observation) -> dict[str, dict[str, Any]]:
    """Per pool the job was queued for: jobs, lost, p95 and max queued -> running (real s)."""
    pools: dict[str, dict[str, Any]] = {}
    for pool in sorted(set(jobs.values())):
        keys = [key for key, p in jobs.items() if p == pool]
        waits = [
            float(seen.started_at) - float(seen.queued_at)
            for key in keys
            if (seen := obs.jobs.get(key)) is not None
            and seen.started_at is not None
            and seen.queued_at is not None
        ]
        pools[pool] = {
            "jobs": len(keys),
            "lost": len(keys) - len(waits),
            "p95_queue_to_running_s": _r(percentile(waits, 0.95)),
            "max_queue_to_running_s": _r(max(waits, default=None)),
        }
    return pools


def _busy_intervals(obs: Observation) -> dict[str, list[tuple[float, float]]]:
    """Runner name -> when it ran jobs (a runner made for one job may have run another)."""
    busy: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for job in obs.jobs.values():
        if job.runner and job.started_at is not None:
            busy[job.runner].append((float(job.started_at), float(job.finished_at or obs.at)))
    return busy


def _overlap(vm: VmSeen, spans: list[tuple[float, float]], now: float) -> list[tuple[float, float]]:
    end = vm.end(now)
    return [(max(a, vm.created_at), min(b, end)) for a, b in spans if min(b, end) > max(a, vm.created_at)]


def vm_figures(obs: Observation, time_scale: float) -> dict[str, Any]:
    busy = _busy_intervals(obs)
    ran: dict[int, list[tuple[float, float]]] = {
        id(vm): _overlap(vm, busy.get(vm.name, []), obs.at) for vm in obs.vms
    }
    by_job: dict[str, list[VmSeen]] = defaultdict(list)
    for vm in obs.vms:
        by_job[vm.job or f"untagged:{vm.name}"].append(vm)
    duplicates: list[dict[str, Any]] = []
    replacements = 0
    for job, vms in by_job.items():
        seen = obs.jobs.get(job)
        started = seen.started_at if seen is not None else None
        for i, vm in enumerate(vms[1:], start=1):
            served = started is not None and started < vm.created_at
            overlapping = any(e.end(obs.at) > vm.created_at for e in vms[:i])
            if served or overlapping:
                duplicates.append(
                    {"job": job, "vm": vm.name, "why": "job already running" if served else "overlapping"}
                )
            else:
                replacements += 1
    life = before = after = unused = 0.0
    for vm in obs.vms:
        end = vm.end(obs.at)
        span = max(0.0, end - vm.created_at)
        life += span
        spans = sorted(ran[id(vm)])
        if not spans:
            unused += span
            continue
        before += spans[0][0] - vm.created_at
        after += end - max(b for _, b in spans)
        busy_total = sum(b - a for a, b in spans)
        gaps = (max(b for _, b in spans) - spans[0][0]) - busy_total
        before += max(0.0, gaps)  # between two jobs of one runner: rare, counted as waiting
    idle = before + after + unused
    return {
        "vms_created": len(obs.vms),
        "duplicate_vms": len(duplicates),
        "duplicates": duplicates[:50],
        "replacement_vms": replacements,
        "vms_without_a_job": sum(1 for vm in obs.vms if not ran[id(vm)]),
        "never_booted_vms": sum(1 for vm in obs.vms if vm.never_boot),
        "leaked_vms": len(obs.live_vms),
        "leaked_vm_names": [vm.name for vm in obs.live_vms][:50],
        "leaked_runners": len(obs.registrations),
        "leaked_runner_names": obs.registrations[:50],
        "vm_seconds": round(life, 1),
        "idle_vm_seconds": round(idle, 1),
        "idle_vm_seconds_sim": round(idle * time_scale, 1),
        "idle_breakdown_s": {
            "before_job": round(before, 1),
            "after_job": round(after, 1),
            "never_ran_a_job": round(unused, 1),
        },
    }
