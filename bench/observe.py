"""What the simulators saw: every job, every VM ever created, the runner registrations left.

Timestamps are the simulators' (wall-clock epoch seconds, real time), so they line up with the
service's logs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner_fleet import naming
from runner_fleet.forges import Forge
from runner_fleet.ports.compute import MANAGED_BY, TAG_MANAGED_BY
from runner_fleet_dev.simulated_jobs import SimulatedJob, simulated_jobs
from simulator.stack import SimulatedCloud


@dataclass(frozen=True)
class JobSeen:
    key: str  # forge:id
    status: str  # queued | running | done | failed
    succeeded: bool
    runner: str | None
    queued_at: float | None
    started_at: float | None
    finished_at: float | None
    connected_at: float | None = None  # when the runner that took it first came online (the forge's)


@dataclass(frozen=True)
class VmSeen:
    name: str
    job: str | None  # forge:id from the VM's tags
    created_at: float
    deleted_at: float | None  # None: still exists
    never_boot: bool
    guest_state: str
    registered_at: float | None = None  # when its guest's runner came online (ARM's guest record)

    def end(self, now: float) -> float:
        return self.deleted_at if self.deleted_at is not None else now


@dataclass(frozen=True)
class Observation:
    at: float
    jobs: dict[str, JobSeen]
    vms: list[VmSeen]  # ours, live and deleted, oldest first
    registrations: list[str]  # ours, still registered on either forge

    @property
    def live_vms(self) -> list[VmSeen]:
        return [vm for vm in self.vms if vm.deleted_at is None]

    def finished(self, keys: list[str]) -> bool:
        return all(key in self.jobs and self.jobs[key].status in {"done", "failed"} for key in keys)

    def settled(self, keys: list[str]) -> bool:
        return self.finished(keys) and not self.live_vms and not self.registrations

    def progress(self, keys: list[str]) -> str:
        states = [self.jobs[key].status if key in self.jobs else "unqueued" for key in keys]
        return (
            f"jobs {len(keys)}: {states.count('queued')} queued, {states.count('running')} running, "
            f"{states.count('done')} done, {states.count('failed')} failed | "
            f"VMs live {len(self.live_vms)}, created {len(self.vms)} | "
            f"registrations {len(self.registrations)}"
        )


def _status(job: SimulatedJob) -> str:
    """queued, running, done or failed: a job cancelled, or finished without success, failed."""
    return "failed" if job.phase == "canceled" or (job.phase == "done" and not job.succeeded) else job.phase


def vm_names(jobs: Mapping[str, str], pools: Mapping[str, Forge]) -> dict[str, str]:
    """VM name -> job key for every job of `jobs` (forge:id) in every pool (name -> forge) of its forge.

    Names are deterministic, and the simulator keeps no tags for a deleted VM: this is how a
    deleted VM is traced back to its job.
    """
    names: dict[str, str] = {}
    for key in jobs:
        forge, _, job_id = key.partition(":")
        for pool, pool_forge in pools.items():
            if pool_forge == forge:
                names[naming.runner_name(pool, pool_forge, job_id)] = key
    return names


def observe(cloud: SimulatedCloud, pools: set[str], names: Mapping[str, str]) -> Observation:
    """A consistent-enough snapshot (each simulator answers on its own loop; call off the service loop).

    `names` (from `vm_names`) traces deleted VMs to their jobs.
    """

    def ours(name: Any) -> bool:
        return naming.pool_of(str(name) if name else None) in pools

    gitlab_runners = cloud.gitlab.runners()
    jobs: dict[str, JobSeen] = {}
    for job in simulated_jobs(cloud, gitlab_runners):
        key = f"{job.forge}:{job.id}"
        queued_at = job.queued_at or job.created_at
        jobs[key] = JobSeen(
            key,
            _status(job),
            job.succeeded,
            job.runner,
            queued_at,
            job.started_at,
            job.finished_at,
            job.connected_at,
        )
    vms: list[VmSeen] = []
    live = cloud.arm.vms()
    for snapshot in (*cloud.arm.deleted_vms(), *live):
        tags = snapshot.get("tags") or {}
        if tags:
            if tags.get(TAG_MANAGED_BY) != MANAGED_BY:
                continue
            job_tag = f"{tags['forge']}:{tags['job']}" if tags.get("forge") and tags.get("job") else None
        elif snapshot.get("deleted_at") is not None and ours(snapshot["name"]):
            job_tag = names.get(snapshot["name"])
        else:
            continue
        vms.append(
            VmSeen(
                snapshot["name"],
                job_tag,
                float(snapshot["created_at"]),
                snapshot.get("deleted_at"),
                bool(snapshot.get("never_boot")),
                str(snapshot.get("guest_state")),
                snapshot.get("registered_at"),
            )
        )
    vms.sort(key=lambda vm: vm.created_at)
    registrations = [r["name"] for r in cloud.github.runners() if not r.get("removed") and ours(r["name"])]
    registrations += [
        r["description"] for r in gitlab_runners if not r.get("deleted") and ours(r["description"])
    ]
    return Observation(time.time(), jobs, vms, registrations)
