"""The `RunnerRegistry` port on GitHub: JIT runners at org or repository level."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote, urlsplit

from github import Github, GithubException

from runner_fleet.adapters.github.auth import GitHubAuth
from runner_fleet.ports.forge import Registration, RunnerBusy, RunnerInfo, RunnerNameTaken, RunnerScope

WORK_FOLDER = "_work"


class GitHubRegistry:
    def __init__(self, auth: GitHubAuth, *, base_url: str = "https://api.github.com") -> None:
        self._auth = auth
        self._base_url = base_url.rstrip("/")

    def _gh(self, scope: RunnerScope) -> Github:
        return self._auth.client(scope.org, scope.installation_id)

    @staticmethod
    def _prefix(scope: RunnerScope) -> str:
        return f"/repos/{scope.repository}" if scope.repository else f"/orgs/{quote(scope.org)}"

    async def register(self, scope: RunnerScope, name: str) -> Registration:
        return await asyncio.to_thread(self._register, scope, name)

    def _register(self, scope: RunnerScope, name: str) -> Registration:
        github_scope = scope.pool.github
        assert github_scope is not None
        labels = list(scope.pool.runner_labels)
        gh = self._gh(scope)
        try:
            if scope.repository:
                # PyGithub has no repository-level helper; the requester speaks the same REST call.
                _, data = gh.requester.requestJsonAndCheck(
                    "POST",
                    f"{self._prefix(scope)}/actions/runners/generate-jitconfig",
                    input={
                        "name": name,
                        "runner_group_id": github_scope.runner_group_id,
                        "labels": labels,
                        "work_folder": WORK_FOLDER,
                    },
                )
                return Registration(int(data["runner"]["id"]), name, str(data["encoded_jit_config"]))
            config = gh.get_organization(scope.org).create_self_hosted_runner_jitconfig(
                name, github_scope.runner_group_id, labels, WORK_FOLDER
            )
            return Registration(config.runner.id, name, config.encoded_jit_config)
        except GithubException as exc:
            if exc.status == 409:
                raise RunnerNameTaken(name) from None
            raise _scrubbed(exc) from None

    async def find(self, scope: RunnerScope, name: str) -> RunnerInfo | None:
        def _find() -> RunnerInfo | None:
            _, data = self._gh(scope).requester.requestJsonAndCheck(
                "GET", f"{self._prefix(scope)}/actions/runners", parameters={"name": name, "per_page": 100}
            )
            for runner in data.get("runners", []):
                if runner.get("name") == name:
                    return _runner(runner)
            return None

        return await asyncio.to_thread(_find)

    async def get(self, scope: RunnerScope, runner_id: int) -> RunnerInfo | None:
        def _get() -> RunnerInfo | None:
            try:
                _, data = self._gh(scope).requester.requestJsonAndCheck(
                    "GET", f"{self._prefix(scope)}/actions/runners/{int(runner_id)}"
                )
            except GithubException as exc:
                if exc.status == 404:
                    return None
                raise _scrubbed(exc) from None
            return _runner(data)

        return await asyncio.to_thread(_get)

    async def remove(self, scope: RunnerScope, runner_id: int) -> bool:
        def _remove() -> bool:
            try:
                self._gh(scope).requester.requestJsonAndCheck(
                    "DELETE", f"{self._prefix(scope)}/actions/runners/{int(runner_id)}"
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
                _, data = self._gh(scope).requester.requestJsonAndCheck(
                    "GET",
                    f"{self._prefix(scope)}/actions/runners",
                    parameters={"per_page": 100, "page": page},
                )
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
    message = exc.data.get("message", "") if isinstance(exc.data, dict) else ""
    return GitHubApiError(exc.status, str(message)[:200])
