"""Is a GitHub pool's runner group what the pool says it is? Read through the API, checked by `doctor`
and, before any VM is made, by the provisioning gate.

`GET /orgs/{org}/actions/runner-groups/{id}` and, for a group of selected repositories,
`GET /orgs/{org}/actions/runner-groups/{id}/repositories` (page-numbered, 100 a page). The App needs
the organization "Self-hosted runners" permission (read), which registering runners implies.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from github import GithubException

from runner_fleet.adapters.github.auth import GitHubAuth
from runner_fleet.adapters.github.calls import Session, call, error_message
from runner_fleet.adapters.github.runner_group import judge_group
from runner_fleet.ports.preflight import CheckResult, Status
from runner_fleet.settings.pool import Pool

CHECK = "github-runner-group"
MAX_PAGES = 50  # 5,000 repositories: far beyond any runner group a pool should use


class GitHubAccess:
    def __init__(self, auth: GitHubAuth, *, base_url: str = "https://api.github.com") -> None:
        self._auth = auth
        self._base_url = base_url.rstrip("/")

    async def check(self, pool: Pool) -> list[CheckResult]:
        if pool.github is None:
            return []
        return [await asyncio.to_thread(self._check, pool)]

    def _check(self, pool: Pool) -> CheckResult:
        scope = pool.github
        assert scope is not None
        if scope.repo_level:
            repository = pool.registration_repository
            return CheckResult(
                CHECK,
                "pass",
                f"{self._base_url}/repos/{repository}",
                f"repository runners: only {repository}",
            )
        group_url = f"/orgs/{quote(scope.org)}/actions/runner-groups/{int(scope.runner_group_id)}"
        resource = self._base_url + group_url
        session = self._auth.session(scope.org)
        try:
            group = call(session, "GET", group_url).data
            selected = (
                self._selected(session, group_url)
                if isinstance(group, dict) and group.get("visibility") == "selected"
                else []
            )
        except GithubException as exc:
            return _unreadable(pool, resource, exc)
        if not isinstance(group, dict):
            return CheckResult(
                CHECK, "fail", resource, "GitHub answered no runner group", "check GITHUB_API_URL"
            )
        verdict = judge_group(pool, group, selected)
        status: Status = "fail" if not verdict.ok else ("warn" if verdict.warning else "pass")
        return CheckResult(CHECK, status, resource, verdict.message, verdict.fix)

    def _selected(self, session: Session, group_url: str) -> list[str]:
        names: list[str] = []
        for page in range(1, MAX_PAGES + 1):
            data: Any = call(
                session, "GET", f"{group_url}/repositories", parameters={"per_page": 100, "page": page}
            ).data
            batch = data.get("repositories", []) if isinstance(data, dict) else []
            names.extend(str(repo["full_name"]) for repo in batch)
            if len(batch) < 100:
                break
        return names

    async def close(self) -> None:
        return None


def _unreadable(pool: Pool, resource: str, exc: GithubException) -> CheckResult:
    scope = pool.github
    assert scope is not None
    if exc.status == 404:
        return CheckResult(
            CHECK,
            "fail",
            resource,
            f"org {scope.org} has no runner group {scope.runner_group_id} (or the credential cannot see it)",
            "create the runner group and set its id as the pool's runner_group_id",
        )
    return CheckResult(
        CHECK,
        "fail",
        resource,
        f"could not read runner group {scope.runner_group_id}: HTTP {exc.status} {error_message(exc)[:120]}",
        "give the GitHub App the organization permission 'Self-hosted runners' (read), the token admin:org",
    )
