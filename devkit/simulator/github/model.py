"""The mutable state of simulated GitHub Actions: runner registrations, workflow runs and jobs."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from simulator.forge import plain_fields
from simulator.github.directory import RunnerScope

JobStatus = Literal["queued", "waiting", "in_progress", "completed"]
GuestStatus = Literal["idle", "busy", "exited"]


@dataclass(eq=False)
class Runner:
    id: int
    name: str
    scope: RunnerScope
    labels: tuple[str, ...]
    label_ids: tuple[int, ...]
    runner_group_id: int
    runner_group_name: str
    work_folder: str
    secret: str
    created_at: float
    os: str = "Linux"
    connected_at: float | None = None
    exited_at: float | None = None
    removed_at: float | None = None
    removal_reason: str | None = None
    job_id: int | None = None
    last_job_id: int | None = None
    # A queued job matched to this runner and about to be assigned (the assignment delay).
    claimed_job_id: int | None = None
    # Epoch seconds from which the REST `busy` field shows the assignment (the busy-flag lag).
    busy_visible_at: float | None = None
    # When its machine went away (deleted, stopped, evicted) while the runner was still running.
    host_lost_at: float | None = None

    @property
    def registered(self) -> bool:
        return self.removed_at is None

    @property
    def exited(self) -> bool:
        return self.exited_at is not None

    @property
    def online(self) -> bool:
        return self.connected_at is not None and not self.exited and self.registered

    @property
    def busy(self) -> bool:
        """Whether it runs a job: the truth, which scheduling and the runner itself go by."""
        return self.job_id is not None

    def reported_busy(self, now: float) -> bool:
        """The REST API's `busy` field: false until the lag after an assignment has passed."""
        return self.busy and (self.busy_visible_at is None or now >= self.busy_visible_at)

    @property
    def idle(self) -> bool:
        return self.online and not self.busy

    def guest_status(self) -> GuestStatus:
        if self.busy and not self.exited:
            return "busy"  # a job runs to its end even if the registration was deleted meanwhile
        if self.exited or not self.registered:
            return "exited"
        return "idle"

    def matches(self, labels: tuple[str, ...]) -> bool:
        own = {label.casefold() for label in self.labels}
        return all(label.casefold() in own for label in labels)

    def snapshot(self) -> dict[str, Any]:
        return {
            **plain_fields(self, hide=("scope", "secret", "label_ids")),
            "scope": self.scope.kind,
            "owner": self.scope.owner,
            "repo": self.scope.repo,
            "status": "online" if self.online else "offline",
            "guest_status": self.guest_status() if self.connected_at is not None else None,
            "busy": self.busy,
            "reported_busy": self.reported_busy(time.time()),
            "removed": not self.registered,
        }


@dataclass(eq=False)
class WorkflowRun:
    id: int
    owner: str
    repo: str
    repository_id: int
    name: str
    run_number: int
    head_sha: str
    head_branch: str
    created_at: float
    job_ids: list[int] = field(default_factory=list)
    # What started the run (`push`, `pull_request`, ...), and for a pull request from a fork the
    # fork's `owner/name` (None: the head is in the repository itself).
    event: str = "push"
    head_repository: str | None = None
    path: str = ".github/workflows/ci.yml"

    @property
    def from_fork(self) -> bool:
        return self.head_repository is not None and (
            self.head_repository.casefold() != f"{self.owner}/{self.repo}".casefold()
        )

    def workflow_refs(self) -> tuple[str, ...]:
        """How a runner group's `selected_workflows` may name this run's workflow file."""
        base = f"{self.owner}/{self.repo}/{self.path}@"
        return (base + self.head_branch, f"{base}refs/heads/{self.head_branch}", base + self.head_sha)


@dataclass(eq=False)
class Job:
    id: int
    run: WorkflowRun
    name: str
    labels: tuple[str, ...]
    duration_s: float
    status: JobStatus
    queued_at: float
    hosted_runner_name: str | None = None
    conclusion: str | None = None
    approved_at: float | None = None
    started_at: float | None = None
    completed_at: float | None = None
    runner_id: int | None = None
    runner_name: str | None = None
    runner_group_id: int | None = None
    runner_group_name: str | None = None
    runner_connected_at: float | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def owner(self) -> str:
        return self.run.owner

    @property
    def repo(self) -> str:
        return self.run.repo

    def snapshot(self) -> dict[str, Any]:
        return {
            **plain_fields(self, hide=("run", "task")),
            "run_id": self.run.id,
            "owner": self.owner,
            "repo": self.repo,
            "workflow_name": self.run.name,
            "event": self.run.event,
            "head_repository": self.run.head_repository,
        }
