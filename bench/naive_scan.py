"""The recovery scan as it was before the request budget, for the "before" figure of `api_budget.py`.

Every round, every repository of every pool (an org-wide pool: the installation's first 200), both
`status=queued` and `status=in_progress` runs, the jobs of each run, no conditional requests, no
budget. Deliveries are redelivered as the service does now.
"""

from __future__ import annotations

import asyncio
from typing import Any

from runner_fleet.adapters.github.auth import GitHubAuth
from runner_fleet.adapters.github.feed import GitHubFeed, waiting_job
from runner_fleet.ports.feeds import WaitingJob
from runner_fleet.settings.pool import Pool

OLD_MAX_REPOSITORIES = 200


class NaiveGitHubFeed(GitHubFeed):
    def __init__(self, auth: GitHubAuth, **kwargs: Any) -> None:
        super().__init__(auth, **kwargs)
        self._naive_auth = auth

    async def waiting_jobs(self, pools: list[Pool]) -> list[WaitingJob]:
        return await asyncio.to_thread(self._every_repository, pools)

    def _every_repository(self, pools: list[Pool]) -> list[WaitingJob]:
        found: dict[int, WaitingJob] = {}
        for org, repos in self._repositories(pools).items():
            gh = self._naive_auth.client(org)
            for full_name in sorted(repos):
                for status in ("queued", "in_progress"):
                    _, runs = gh.requester.requestJsonAndCheck(
                        "GET",
                        f"/repos/{full_name}/actions/runs",
                        parameters={"status": status, "per_page": 100},
                    )
                    for run in runs.get("workflow_runs", []):
                        _, jobs = gh.requester.requestJsonAndCheck(
                            "GET",
                            f"/repos/{full_name}/actions/runs/{int(run['id'])}/jobs",
                            parameters={"per_page": 100},
                        )
                        for job in jobs.get("jobs", []):
                            waiting = waiting_job(job, run, pools, org=org, repository=full_name)
                            if waiting is not None:
                                found[waiting.request.job_id] = waiting
        return list(found.values())

    def _repositories(self, pools: list[Pool]) -> dict[str, set[str]]:
        repos: dict[str, set[str]] = {}
        for pool in pools:
            if pool.github is None:
                continue
            org = pool.github.org
            listed = {r if "/" in r else f"{org}/{r}" for r in pool.github.repositories}
            if not listed:
                gh = self._naive_auth.client(org)
                page = 1
                while len(listed) < OLD_MAX_REPOSITORIES:
                    _, data = gh.requester.requestJsonAndCheck(
                        "GET", "/installation/repositories", parameters={"per_page": 100, "page": page}
                    )
                    batch = data.get("repositories", [])
                    listed.update(str(r["full_name"]) for r in batch)
                    if len(batch) < 100:
                        break
                    page += 1
            repos.setdefault(org, set()).update(listed)
        return repos
