"""The JSON GitLab's REST API answers with, for the resources the simulator models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from simulator.gitlab.ci import CiService
from simulator.gitlab.config import GitLabSimConfig, Group, Project, User
from simulator.gitlab.directory import Directory
from simulator.gitlab.model import Job, Runner
from simulator.http import utc_time

VISIBILITY_LEVELS = {"private": 0, "internal": 10, "public": 20}


def api_time(ts: float | None) -> str | None:
    """The REST API's timestamps: ISO 8601 with milliseconds, UTC, trailing Z."""
    if ts is None:
        return None
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def hook_time(ts: float | None) -> str | None:
    """Webhook payloads' timestamps, as Ruby prints a UTC time: `2026-11-20 10:00:00 UTC` (their
    `*_iso` companions: `simulator.http.utc_time`)."""
    return utc_time(ts, "%Y-%m-%d %H:%M:%S UTC")


class Representer:
    """Renders resources with URLs under the simulator's base URL (what `web_url`s must start with)."""

    def __init__(self, config: GitLabSimConfig, directory: Directory, ci: CiService) -> None:
        self._config = config
        self._directory = directory
        self._ci = ci
        self.base_url = ""

    # -- URLs -----------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or "127.0.0.1"

    def project_url(self, project: Project) -> str:
        return f"{self.base_url}/{project.path_with_namespace}"

    def git_http_url(self, project: Project) -> str:
        return f"{self.project_url(project)}.git"

    def git_ssh_url(self, project: Project) -> str:
        return f"git@{self.host}:{project.path_with_namespace}.git"

    def group_url(self, group: Group) -> str:
        return f"{self.base_url}/groups/{self._directory.full_path(group)}"

    def user_url(self, user: User) -> str:
        return f"{self.base_url}/{user.username}"

    def job_url(self, job: Job) -> str:
        project = self._directory.project(job.project_id)
        return f"{self.project_url(project)}/-/jobs/{job.id}"

    def pipeline_url(self, project: Project, pipeline_id: int) -> str:
        return f"{self.project_url(project)}/-/pipelines/{pipeline_id}"

    # -- users, groups, projects ----------------------------------------------------------

    def user_basic(self, user: User) -> dict[str, Any]:
        return {
            "id": user.id,
            "username": user.username,
            "name": user.name,
            "state": "active",
            "locked": False,
            "avatar_url": None,
            "web_url": self.user_url(user),
        }

    def current_user(self, user: User) -> dict[str, Any]:
        return {
            **self.user_basic(user),
            "email": user.email,
            "public_email": None,
            "bio": "",
            "is_admin": user.admin,
            "bot": False,
            "can_create_group": True,
            "can_create_project": True,
            "two_factor_enabled": False,
            "external": False,
            "created_at": "2024-01-01T00:00:00.000Z",
        }

    def namespace(self, group: Group) -> dict[str, Any]:
        """A project's `namespace`: some of its group's fields and the kind."""
        shown = ("id", "name", "path", "full_path", "parent_id", "avatar_url", "web_url")
        return {"kind": "group", **{key: value for key, value in self.group(group).items() if key in shown}}

    def group(self, group: Group) -> dict[str, Any]:
        return {
            "id": group.id,
            "name": group.display_name,
            "path": group.path,
            "description": "",
            "visibility": group.visibility,
            "full_name": self._directory.full_name(group),
            "full_path": self._directory.full_path(group),
            "parent_id": group.parent_id,
            "web_url": self.group_url(group),
            "avatar_url": None,
            "created_at": "2024-01-01T00:00:00.000Z",
        }

    def project(self, project: Project) -> dict[str, Any]:
        group = self._directory.group_of(project)
        return {
            "id": project.id,
            "name": project.display_name,
            "path": project.path,
            "description": project.description,
            "name_with_namespace": f"{self._directory.full_name(group)} / {project.display_name}",
            "path_with_namespace": project.path_with_namespace,
            "namespace": self.namespace(group),
            "default_branch": project.default_branch,
            "visibility": project.visibility,
            "web_url": self.project_url(project),
            "http_url_to_repo": self.git_http_url(project),
            "ssh_url_to_repo": self.git_ssh_url(project),
            "archived": False,
            "jobs_enabled": True,
            "builds_access_level": "enabled",
            "shared_runners_enabled": True,
            "group_runners_enabled": True,
            "created_at": "2024-01-01T00:00:00.000Z",
        }

    # -- runners --------------------------------------------------------------------------

    def runner(self, runner: Runner) -> dict[str, Any]:
        status, online = self._ci.status_of(runner)
        return {
            "id": runner.id,
            "description": runner.description,
            "ip_address": None,
            "active": not runner.paused,
            "paused": runner.paused,
            "is_shared": runner.is_shared,
            "runner_type": runner.runner_type,
            "name": runner.name,
            "online": online,
            "status": status,
            "tag_list": list(runner.tags),
            "run_untagged": runner.run_untagged,
            "contacted_at": api_time(runner.contacted_at),
            "created_at": api_time(runner.created_at),
        }

    def runner_details(self, runner: Runner) -> dict[str, Any]:
        projects = [self._directory.project(runner.project_id)] if runner.project_id is not None else []
        groups = [self._directory.group(runner.group_id)] if runner.group_id is not None else []
        return {
            **self.runner(runner),
            "architecture": "amd64" if runner.connected_at else None,
            "platform": "linux" if runner.connected_at else None,
            "version": "17.6.0" if runner.connected_at else None,
            "revision": None,
            "locked": runner.locked,
            "access_level": runner.access_level,
            "maximum_timeout": runner.maximum_timeout,
            "maintenance_note": runner.maintenance_note,
            "created_by": self.user_basic(self._directory.user(runner.created_by)),
            "projects": [
                {
                    "id": p.id,
                    "name": p.display_name,
                    "name_with_namespace": p.path_with_namespace.replace("/", " / "),
                    "path": p.path,
                    "path_with_namespace": p.path_with_namespace,
                }
                for p in projects
            ],
            "groups": [{"id": g.id, "name": g.display_name, "web_url": self.group_url(g)} for g in groups],
        }

    def created_runner(self, runner: Runner) -> dict[str, Any]:
        return {"id": runner.id, "token": runner.token, "token_expires_at": None}

    # -- jobs -----------------------------------------------------------------------------

    def job(self, job: Job) -> dict[str, Any]:
        project = self._directory.project(job.project_id)
        user = self._directory.user(self._config.job_username)
        pipeline = job.pipeline
        runner = self._ci.registered_runner(job.runner_id)
        rendered: dict[str, Any] = {
            "id": job.id,
            "name": job.name,
            "stage": job.stage,
            "status": job.status,
            "ref": pipeline.ref,
            "tag": False,
            "coverage": None,
            "allow_failure": False,
            "archived": False,
            "created_at": api_time(job.created_at),
            "started_at": api_time(job.started_at),
            "finished_at": api_time(job.finished_at),
            "erased_at": None,
            "duration": duration(job.started_at, job.finished_at),
            "queued_duration": duration(job.queued_at, job.started_at),
            "user": {**self.user_basic(user), "public_email": None, "created_at": "2024-01-01T00:00:00.000Z"},
            "commit": {
                "id": pipeline.sha,
                "short_id": pipeline.sha[:8],
                "title": f"Deploy {project.path}",
                "message": f"Deploy {project.path}\n",
                "author_name": user.name,
                "author_email": user.email,
                "created_at": api_time(pipeline.created_at),
                "web_url": f"{self.project_url(project)}/-/commit/{pipeline.sha}",
            },
            "pipeline": {
                "id": pipeline.id,
                "iid": pipeline.iid,
                "project_id": project.id,
                "sha": pipeline.sha,
                "ref": pipeline.ref,
                "status": job.status,
                "source": pipeline.source,
                "created_at": api_time(pipeline.created_at),
                "web_url": self.pipeline_url(project, pipeline.id),
            },
            "web_url": self.job_url(job),
            "project": {"ci_job_token_scope_enabled": False},
            "artifacts": [],
            "artifacts_expire_at": None,
            "tag_list": list(job.tags),
            "runner": None if runner is None else self.runner(runner),
            "runner_manager": None if runner is None else self._runner_manager(runner),
            "project_id": project.id,
        }
        if job.status == "failed":
            rendered["failure_reason"] = job.failure_reason
        return rendered

    def _runner_manager(self, runner: Runner) -> dict[str, Any]:
        status, _ = self._ci.status_of(runner)
        return {
            "id": runner.id,
            "system_id": f"s_{runner.id:012x}",
            "version": "17.6.0",
            "platform": "linux",
            "architecture": "amd64",
            "created_at": api_time(runner.connected_at),
            "contacted_at": api_time(runner.contacted_at),
            "status": status,
        }


def duration(start: float | None, end: float | None, digits: int = 3) -> float | None:
    """Seconds from `start` to `end` (None until both are known), as the REST API rounds them."""
    return None if start is None or end is None else round(end - start, digits)
