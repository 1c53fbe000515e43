"""The `RunnerRegistry` port on GitHub: JIT runners at org or repository level."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote, urlsplit

from github import GithubException

from runner_fleet.adapters.github.auth import GitHubAuth
from runner_fleet.adapters.github.calls import Session, call, error_message
from runner_fleet.ports.forge import Registration, RunnerBusy, RunnerInfo, RunnerNameTaken, RunnerScope

WORK_FOLDER = "_work"


class GitHubRegistry:
    """Every call here is one the fleet cannot do without: none is held back for the budget's reserve
    (only GitHub's own "wait" stops them, as `RateLimited`)."""

    # GitHub removes a JIT runner when its job ends.
    removes_itself_after_job = True

    def __init__(self, auth: GitHubAuth, *, base_url: str = "https://api.github.com") -> None:
        self._auth = auth
        self._base_url = base_url.rstrip("/")

    def _session(self, scope: RunnerScope) -> Session:
        return self._auth.session(scope.org, scope.installation_id)

    @staticmethod
    def _prefix(scope: RunnerScope) -> str:
        return f"/repos/{scope.repository}" if scope.repository else f"/orgs/{quote(scope.org)}"

    async def register(self, scope: RunnerScope, name: str) -> Registration:
        return await asyncio.to_thread(self._register, scope, name)

    def _register(self, scope: RunnerScope, name: str) -> Registration:
        github_scope = scope.pool.github
        assert github_scope is not None
        labels = list(scope.pool.runner_labels)
        try:
            # The requester, not Organization.create_self_hosted_runner_jitconfig: the same REST call
            # at both levels (PyGithub has no repository-level helper), and its answer's headers
            # keep the budget current.
            data = call(
                self._session(scope),
                "POST",
                f"{self._prefix(scope)}/actions/runners/generate-jitconfig",
                body={
                    "name": name,
                    "runner_group_id": github_scope.runner_group_id,
                    "labels": labels,
                    "work_folder": WORK_FOLDER,
                },
            ).data
            return Registration(int(data["runner"]["id"]), name, str(data["encoded_jit_config"]))
        except GithubException as exc:
            if exc.status == 409:
                raise RunnerNameTaken(name) from None
            raise _scrubbed(exc) from None

    async def find(self, scope: RunnerScope, name: str) -> RunnerInfo | None:
        def _find() -> RunnerInfo | None:
            data = call(
                self._session(scope),
                "GET",
                f"{self._prefix(scope)}/actions/runners",
                parameters={"name": name, "per_page": 100},
            ).data
            for runner in data.get("runners", []):
                if runner.get("name") == name:
                    return _runner(runner)
            return None

        return await asyncio.to_thread(_find)

    async def get(self, scope: RunnerScope, runner_id: int) -> RunnerInfo | None:
        def _get() -> RunnerInfo | None:
            try:
                data = call(
                    self._session(scope), "GET", f"{self._prefix(scope)}/actions/runners/{int(runner_id)}"
                ).data
            except GithubException as exc:
                if exc.status == 404:
                    return None
                raise _scrubbed(exc) from None
            return _runner(data)

        return await asyncio.to_thread(_get)

    async def remove(self, scope: RunnerScope, runner_id: int) -> bool:
        def _remove() -> bool:
            try:
                call(
                    self._session(scope), "DELETE", f"{self._prefix(scope)}/actions/runners/{int(runner_id)}"
                )
            except GithubException as exc:
                if exc.status == 404:
                    return False
                if exc.status == 422:
                    raise RunnerBusy(str(runner_id)) from None
                raise _scrubbed(exc) from None
            return True

        return await asyncio.to_thread(_remove)

    async def list_runners(self, scope: RunnerScope) -> list[RunnerInfo]:
        def _list() -> list[RunnerInfo]:
            found: list[RunnerInfo] = []
            page = 1
            while True:
                data = call(
                    self._session(scope),
                    "GET",
                    f"{self._prefix(scope)}/actions/runners",
                    parameters={"per_page": 100, "page": page},
                ).data
                batch = data.get("runners", [])
                found.extend(_runner(r) for r in batch)
                if len(batch) < 100:
                    return found
                page += 1

        return await asyncio.to_thread(_list)

    def forge_url(self, scope: RunnerScope) -> str:
        parts = urlsplit(self._base_url)
        host = (
            "https://github.com" if parts.netloc == "api.github.com" else f"{parts.scheme}://{parts.netloc}"
        )
        return f"{host}/{scope.repository or scope.org}"

    async def close(self) -> None:
        await asyncio.to_thread(self._auth.close)


def _runner(data: dict[str, Any]) -> RunnerInfo:
    return RunnerInfo(
        runner_id=int(data["id"]),
        name=str(data["name"]),
        status=str(data.get("status", "offline")),
        busy=bool(data.get("busy", False)),
        labels=tuple(str(label.get("name")) for label in data.get("labels", [])),
    )


class GitHubApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"GitHub API answered {status}: {message}")
        self.status = status


def _scrubbed(exc: GithubException) -> GitHubApiError:
    # PyGithub puts the whole response body in the exception; keep only GitHub's message.
    return GitHubApiError(exc.status, error_message(exc)[:200])
