"""GitLab Job Hook payloads (`X-Gitlab-Event: Job Hook`, `object_kind: build`).

The payload carries no job tag list: `runner.tags` are the runner's, and `runner` is null while the
job is created or pending. Tags are read from the jobs API when a job is provisioned for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, cast

from runner_fleet.events.base import DictWrapper, MalformedEvent, queued_to_running

JobStatus = Literal["created", "pending", "running", "success", "failed", "canceled", "skipped", "manual"]
_STATUSES = ("created", "pending", "running", "success", "failed", "canceled", "skipped", "manual")
FINISHED = frozenset({"success", "failed", "canceled", "skipped"})


class HookRunner(DictWrapper):
    @property
    def id(self) -> int:
        return self._int("id")

    @property
    def description(self) -> str:
        return self._opt_str("description") or ""

    @property
    def tags(self) -> tuple[str, ...]:
        return self._str_list("tags") if self._data.get("tags") is not None else ()


class JobHookEvent(DictWrapper):
    def __init__(self, data: Mapping[str, Any]) -> None:
        super().__init__(data)
        if self._str("object_kind") != "build":
            raise MalformedEvent("'object_kind' must be 'build' for a Job Hook")
        _ = (self.job_id, self.status, self.project_id, self.runner, self.project_path)
        if self.runner is not None:
            _ = (self.runner.id, self.runner.description)

    @property
    def job_id(self) -> int:
        return self._int("build_id")

    @property
    def job_name(self) -> str:
        return self._opt_str("build_name") or ""

    @property
    def status(self) -> JobStatus:
        status = self._str("build_status")
        if status not in _STATUSES:
            raise MalformedEvent(f"unknown build_status {status[:40]!r}")
        return cast("JobStatus", status)

    @property
    def project_id(self) -> int:
        return self._int("project_id")

    @property
    def project_path(self) -> str:
        project = self._opt_obj("project")
        path = project.get("path_with_namespace") if project else None
        return path if isinstance(path, str) else str(self.project_id)

    @property
    def runner(self) -> HookRunner | None:
        raw = self._opt_obj("runner")
        return HookRunner(raw) if raw is not None else None

    @property
    def environment(self) -> str | None:
        env = self._opt_obj("environment")
        name = env.get("name") if env else None
        return name if isinstance(name, str) else None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def started_at(self) -> float | None:
        """When a runner took the job (epoch seconds), if the payload says."""
        return self._opt_time("build_started_at_iso") or self._opt_time("build_started_at")

    @property
    def queued_at(self) -> float | None:
        """When the job began waiting for a runner: its start less the time it was pending."""
        started, pending = self.started_at, self._opt_seconds("build_queued_duration")
        if started is not None and pending is not None:
            return started - pending
        return self._opt_time("build_created_at_iso") or self._opt_time("build_created_at")

    @property
    def wait_s(self) -> float | None:
        """Queued to running by GitLab's own times, when both are known."""
        return queued_to_running(self.queued_at, self.started_at)
