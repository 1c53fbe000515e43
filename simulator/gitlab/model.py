"""The mutable state of simulated GitLab CI: runner registrations, pipelines and their jobs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Literal

RunnerType = Literal["instance_type", "group_type", "project_type"]
RUNNER_TYPES: tuple[RunnerType, ...] = ("instance_type", "group_type", "project_type")
JobStatus = Literal["created", "pending", "running", "success", "failed", "canceled"]
JOB_STATUSES: tuple[str, ...] = (
    "created",
    "pending",
    "running",
    "success",
    "failed",
    "canceled",
    # Statuses GitLab knows (and accepts as a scope) that the simulator never produces.
    "canceling",
    "skipped",
    "manual",
    "waiting_for_resource",
    "preparing",
    "scheduled",
)
FINISHED: frozenset[str] = frozenset({"success", "failed", "canceled"})


@dataclass(eq=False)
class Runner:
    id: int
    token: str
    runner_type: RunnerType
    group_id: int | None
    project_id: int | None
    description: str
    tags: tuple[str, ...]
    run_untagged: bool
    paused: bool
    locked: bool
    access_level: str
    maximum_timeout: int | None
    maintenance_note: str | None
    created_by: str
    created_at: float
    name: str | None = None
    contacted_at: float | None = None
    # First contact through the runner API (verify or a job request): a runner process started.
    connected_at: float | None = None
    last_job_id: int | None = None
    jobs_taken: int = 0
    deleted_at: float | None = None

    @property
    def registered(self) -> bool:
        return self.deleted_at is None

    @property
    def is_shared(self) -> bool:
        return self.runner_type == "instance_type"

    def takes_tags(self, tags: tuple[str, ...]) -> bool:
        """GitLab's rule: every job tag is a runner tag, and untagged jobs need run_untagged."""
        if not tags:
            return self.run_untagged
        return set(tags) <= set(self.tags)

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "token_prefix": self.token[:9],
            "runner_type": self.runner_type,
            "group_id": self.group_id,
            "project_id": self.project_id,
            "description": self.description,
            "name": self.name,
            "tag_list": list(self.tags),
            "run_untagged": self.run_untagged,
            "paused": self.paused,
            "locked": self.locked,
            "access_level": self.access_level,
            "maximum_timeout": self.maximum_timeout,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "connected_at": self.connected_at,
            "contacted_at": self.contacted_at,
            "last_job_id": self.last_job_id,
            "jobs_taken": self.jobs_taken,
            "deleted": not self.registered,
            "deleted_at": self.deleted_at,
        }


@dataclass(eq=False)
class Pipeline:
    id: int
    iid: int
    project_id: int
    sha: str
    before_sha: str
    ref: str
    created_at: float
    source: str
    source_pipeline: dict[str, Any] | None = None
    # GitLab decides once, when the pipeline is created, whether its ref is protected
    # (`Ci::Pipeline#protected_ref?`); `ref_protected` runners take only such jobs.
    protected: bool = False


@dataclass(eq=False)
class Job:
    id: int
    project_id: int
    pipeline: Pipeline
    name: str
    stage: str
    tags: tuple[str, ...]
    duration_s: float
    fail: bool
    environment: str | None
    status: JobStatus
    created_at: float
    queued_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    failure_reason: str | None = None
    # The runner that took the job. GitLab nullifies the reference when that runner is deleted
    # (the API and hooks then show `runner: null`); the simulator keeps it for its own records.
    runner_id: int | None = None
    runner_connected_at: float | None = None
    # The job token (`CI_JOB_TOKEN`): what the runner authenticates job updates with.
    token: str | None = field(default=None, repr=False)
    script: tuple[str, ...] = ()
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project_id": self.project_id,
            "pipeline_id": self.pipeline.id,
            "name": self.name,
            "stage": self.stage,
            "tag_list": list(self.tags),
            "status": self.status,
            "failure_reason": self.failure_reason,
            "duration_s": self.duration_s,
            "fail": self.fail,
            "environment": self.environment,
            "source_pipeline": self.pipeline.source_pipeline,
            "runner_id": self.runner_id,
            "ref": self.pipeline.ref,
            "protected": self.pipeline.protected,
            "created_at": self.created_at,
            "pending_at": self.queued_at,
            "runner_connected_at": self.runner_connected_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }
