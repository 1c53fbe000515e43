"""GitHub `workflow_job` webhook payloads."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, cast

from runner_fleet.events.base import DictWrapper, MalformedEvent, is_id, queued_to_running

WorkflowJobAction = Literal["queued", "waiting", "in_progress", "completed"]
_ACTIONS = ("queued", "waiting", "in_progress", "completed")


class WorkflowJob(DictWrapper):
    @property
    def id(self) -> int:
        return self._int("id")

    @property
    def run_id(self) -> int:
        return self._int("run_id")

    @property
    def name(self) -> str:
        return self._opt_str("name") or ""

    @property
    def status(self) -> str:
        """`queued`, `waiting` (behind an environment approval, even when the action says queued), ..."""
        return self._str("status")

    @property
    def conclusion(self) -> str | None:
        return self._opt_str("conclusion")

    @property
    def labels(self) -> tuple[str, ...]:
        return self._str_list("labels")

    @property
    def runner_id(self) -> int | None:
        """Null until the job is in progress."""
        return self._opt_int("runner_id")

    @property
    def runner_name(self) -> str | None:
        """Null until in progress; on `completed`, the runner that actually ran the job."""
        return self._opt_str("runner_name")

    @property
    def runner_group_name(self) -> str | None:
        return self._opt_str("runner_group_name")

    @property
    def created_at(self) -> float | None:
        """When the job was queued (epoch seconds), if the payload says."""
        return self._opt_time("created_at")

    @property
    def started_at(self) -> float | None:
        """When it started (GitHub fills it with the creation time until then)."""
        return self._opt_time("started_at")

    @property
    def wait_s(self) -> float | None:
        """Queued to running by GitHub's own times, when both are known."""
        return queued_to_running(self.created_at, self.started_at)


class Repository(DictWrapper):
    @property
    def name(self) -> str:
        return self._str("name")

    @property
    def full_name(self) -> str:
        return self._str("full_name")

    @property
    def owner_login(self) -> str:
        owner = self._obj("owner")
        login = owner.get("login")
        if not isinstance(login, str):
            raise MalformedEvent("'repository.owner.login' must be a string")
        return login


class WorkflowJobEvent(DictWrapper):
    """The `workflow_job` event. Construction validates what the service relies on."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        super().__init__(data)
        # Touch every field we act on so a malformed body fails here, at the edge, with a 400.
        _ = (self.action, self.job.id, self.job.labels, self.job.runner_name, self.repository.full_name)
        _ = (self.repository.owner_login, self.installation_id)
        _ = (self.job.status, self.job.conclusion, self.job.runner_id)

    @property
    def action(self) -> WorkflowJobAction:
        action = self._str("action")
        if action not in _ACTIONS:
            raise MalformedEvent(f"unknown workflow_job action {action[:40]!r}")
        return cast("WorkflowJobAction", action)

    @property
    def job(self) -> WorkflowJob:
        return WorkflowJob(self._obj("workflow_job"))

    @property
    def repository(self) -> Repository:
        return Repository(self._obj("repository"))

    @property
    def org(self) -> str:
        """The organisation login, or the repository owner for a user-owned repository."""
        organization = self._opt_obj("organization")
        if organization is not None and isinstance(organization.get("login"), str):
            return str(organization["login"])
        return self.repository.owner_login

    @property
    def installation_id(self) -> int | None:
        installation = self._opt_obj("installation")
        if installation is None:
            return None
        value = installation.get("id")
        if not is_id(value):
            raise MalformedEvent("'installation.id' must be an integer id")
        return value

    @property
    def is_waiting(self) -> bool:
        return self.action == "waiting" or self.job.status == "waiting"
