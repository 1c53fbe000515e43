"""Every job the forge simulators hold, read the same way on both forges (what the demo and the
benchmarks watch)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner_fleet.forges import Forge

if TYPE_CHECKING:
    from simulator.stack import SimulatedCloud


# Each forge's job statuses as phases: queued, running, done (`succeeded` tells how), failed, canceled.
_PHASES: dict[Forge, dict[str, str]] = {
    "github": {"queued": "queued", "waiting": "queued", "in_progress": "running", "completed": "done"},
    "gitlab": {
        "created": "queued",
        "pending": "queued",
        "running": "running",
        "success": "done",
        "failed": "failed",
        "canceled": "canceled",
    },
}


@dataclass(frozen=True)
class SimulatedJob:
    forge: Forge
    id: int
    name: str
    # As the forge says it. GitHub: queued, waiting, in_progress, completed (`succeeded` tells how);
    # GitLab: created, pending, running, success, failed, canceled.
    status: str
    succeeded: bool
    runner: str | None  # the runner's name on GitHub, its description on GitLab
    created_at: float | None  # GitLab only
    queued_at: float | None  # GitLab: pending since
    connected_at: float | None  # when the runner that took it first came online
    started_at: float | None
    finished_at: float | None

    @property
    def phase(self) -> str:
        """queued, running, done, failed or canceled (the forge's own status if it is none of these)."""
        return _PHASES[self.forge].get(self.status, self.status)


# Where a job record of each simulator keeps the times `queued_at` and `finished_at`.
_TIMES: dict[Forge, tuple[str, str]] = {
    "github": ("queued_at", "completed_at"),
    "gitlab": ("pending_at", "finished_at"),
}


def simulated_jobs(cloud: SimulatedCloud, gitlab_runners: list[dict[str, Any]]) -> list[SimulatedJob]:
    """The jobs of both simulators, GitHub's first; `gitlab_runners` (`cloud.gitlab.runners()`) names the
    runner of each GitLab job."""
    described = {runner["id"]: runner["description"] for runner in gitlab_runners}
    github = [
        _job("github", job, job.get("runner_name"), succeeded=job.get("conclusion") == "success")
        for job in cloud.github.jobs()
    ]
    gitlab = [
        _job("gitlab", job, described.get(job.get("runner_id")), succeeded=job.get("status") == "success")
        for job in cloud.gitlab.jobs()
    ]
    return github + gitlab


def _job(forge: Forge, job: dict[str, Any], runner: str | None, *, succeeded: bool) -> SimulatedJob:
    queued, finished = _TIMES[forge]
    return SimulatedJob(
        forge,
        job["id"],
        str(job.get("name")),
        str(job.get("status")),
        succeeded,
        runner,
        job.get("created_at"),
        job.get(queued),
        job.get("runner_connected_at"),
        job.get("started_at"),
        job.get(finished),
    )
