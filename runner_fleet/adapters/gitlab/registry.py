"""The `RunnerRegistry` port on GitLab: single-job runners created with `POST /user/runners`."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from gitlab.exceptions import GitlabError, GitlabGetError

from runner_fleet.adapters.gitlab.client import GitLabClient
from runner_fleet.ports.forge import Registration, RunnerInfo, RunnerNameTaken, RunnerScope


class GitLabApiError(Exception):
    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(f"GitLab API answered {status}: {message}")
        self.status = status


def _scrubbed(exc: GitlabError) -> GitLabApiError:
    # python-gitlab keeps the whole response body; the message is all a log needs.
    return GitLabApiError(exc.response_code, str(exc.error_message)[:200])


class GitLabRegistry:
    # A GitLab runner stays registered (and its token live) until someone deletes it.
    removes_itself_after_job = False

    def __init__(self, client: GitLabClient) -> None:
        self._client = client

    def _owner(self, scope: RunnerScope) -> Any:
        gl = self._client.api()
        gitlab_scope = scope.pool.gitlab
        assert gitlab_scope is not None
        if gitlab_scope.group_id is not None:
            return gl.groups.get(gitlab_scope.group_id, lazy=True)
        assert gitlab_scope.project_id is not None  # the scope model demands one of the two
        return gl.projects.get(gitlab_scope.project_id, lazy=True)

    async def register(self, scope: RunnerScope, name: str) -> Registration:
        return await asyncio.to_thread(self._register, scope, name)

    def _register(self, scope: RunnerScope, name: str) -> Registration:
        # GitLab accepts duplicate descriptions; a retried step must find the runner it made before.
        if self._find(scope, name) is not None:
            raise RunnerNameTaken(name)
        gitlab_scope = scope.pool.gitlab
        assert gitlab_scope is not None
        body: dict[str, Any] = {
            "description": name,
            "tag_list": list(scope.pool.labels),
            "run_untagged": False,
            "locked": True,
            "access_level": gitlab_scope.access_level,
            "maximum_timeout": gitlab_scope.maximum_timeout_s,
        }
        if gitlab_scope.group_id is not None:
            body |= {"runner_type": "group_type", "group_id": gitlab_scope.group_id}
        else:
            body |= {"runner_type": "project_type", "project_id": gitlab_scope.project_id}
        user = self._client.api().user
        assert user is not None  # set by auth()
        try:
            runner = user.runners.create(body)
        except GitlabError as exc:
            raise _scrubbed(exc) from None
        return Registration(int(runner.id), name, str(runner.token))

    async def find(self, scope: RunnerScope, name: str) -> RunnerInfo | None:
        return await asyncio.to_thread(self._find, scope, name)

    def _find(self, scope: RunnerScope, name: str) -> RunnerInfo | None:
        return next((runner for runner in self._list(scope) if runner.name == name), None)

    async def get(self, scope: RunnerScope, runner_id: int) -> RunnerInfo | None:
        def _get() -> RunnerInfo | None:
            gl = self._client.api()
            try:
                runner = gl.runners.get(runner_id)
                running = runner.jobs.list(status="running", per_page=1, get_all=False)
            except GitlabGetError as exc:
                if exc.response_code == 404:
                    return None
                raise _scrubbed(exc) from None
            except GitlabError as exc:
                raise _scrubbed(exc) from None
            job_id = int(running[0].id) if running else None
            return _info(runner.attributes, busy=job_id is not None, job_id=job_id)

        return await asyncio.to_thread(_get)

    async def remove(self, scope: RunnerScope, runner_id: int) -> bool:
        def _remove() -> bool:
            try:
                self._client.api().runners.delete(runner_id)
            except GitlabError as exc:
                if exc.response_code == 404:
                    return False
                raise _scrubbed(exc) from None
            return True

        return await asyncio.to_thread(_remove)

    async def list_runners(self, scope: RunnerScope) -> list[RunnerInfo]:
        """Our scope's runners, each online one with the job it runs (GitLab's list has no `busy`)."""

        def _with_jobs() -> list[RunnerInfo]:
            listed = self._list(scope)
            return [
                self._with_running_job(runner) if runner.status == "online" else runner for runner in listed
            ]

        return await asyncio.to_thread(_with_jobs)

    def _with_running_job(self, runner: RunnerInfo) -> RunnerInfo:
        try:
            running = (
                self._client.api()
                .runners.get(runner.runner_id, lazy=True)
                .jobs.list(status="running", per_page=1, get_all=False)
            )
        except GitlabError as exc:
            if exc.response_code == 404:
                return runner  # deleted since it was listed
            raise _scrubbed(exc) from None
        if not running:
            return runner
        return dataclasses.replace(runner, busy=True, job_id=int(running[0].id))

    def _list(self, scope: RunnerScope) -> list[RunnerInfo]:
        gitlab_scope = scope.pool.gitlab
        assert gitlab_scope is not None
        kind = "group_type" if gitlab_scope.group_id is not None else "project_type"
        try:
            runners = self._owner(scope).runners.list(type=kind, iterator=True, per_page=100)
            return [_info(runner.attributes) for runner in runners]
        except GitlabError as exc:
            raise _scrubbed(exc) from None

    def forge_url(self, scope: RunnerScope) -> str:
        return self._client.url

    async def close(self) -> None:
        await asyncio.to_thread(self._client.close)


def _info(data: dict[str, Any], *, busy: bool = False, job_id: int | None = None) -> RunnerInfo:
    return RunnerInfo(
        runner_id=int(data["id"]),
        name=str(data.get("description") or ""),
        status=str(data.get("status") or ("online" if data.get("online") else "offline")),
        busy=busy,
        labels=tuple(data.get("tag_list") or ()),
        job_id=job_id,
    )
