"""The mutable state of simulated GitLab CI: runner registrations, pipelines and their jobs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Literal

from simulator.forge import plain_fields

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
            **plain_fields(self, hide=("token",), rename={"tags": "tag_list"}),
            "token_prefix": self.token[:9],
            "deleted": not self.registered,
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
            **plain_fields(
                self,
                hide=("pipeline", "token", "task"),
                rename={"tags": "tag_list", "queued_at": "pending_at"},
            ),
            "pipeline_id": self.pipeline.id,
            "source_pipeline": self.pipeline.source_pipeline,
            "ref": self.pipeline.ref,
            "protected": self.pipeline.protected,
        }
