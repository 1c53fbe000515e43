"""Recover missed GitHub webhooks: failed App deliveries are redelivered, waiting jobs are listed."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

from github import Auth, Github, GithubException

from runner_fleet.adapters.github.auth import GitHubAuth
from runner_fleet.logs import get_logger
from runner_fleet.matching import match_github_pool
from runner_fleet.messages import ProvisionRequest
from runner_fleet.ports.feeds import WaitingJob
from runner_fleet.settings.pool import Pool

log = get_logger("github.feed")

# Runs that can hold a job still waiting for a runner (a multi-job run is in_progress while some wait).
_RUN_STATUSES = ("queued", "in_progress")
# A delivery that failed this many times is not retried again by us: its endpoint needs a person.
_MAX_ATTEMPTS = 3
# Bound the work per round for org-wide pools (repositories listed through the installation).
MAX_REPOSITORIES = 200


def _epoch(stamp: Any) -> float:
    if not isinstance(stamp, str):
        return time.time()
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class GitHubFeed:
    def __init__(
        self, auth: GitHubAuth, *, base_url: str, app_id: int | None = None, private_key: str | None = None
    ) -> None:
        self._auth = auth
        self._app = (
            Github(auth=Auth.AppAuth(app_id, private_key), base_url=base_url)
            if app_id and private_key
            else None
        )

    async def waiting_jobs(self, pools: list[Pool]) -> list[WaitingJob]:
        return await asyncio.to_thread(self._waiting, pools)

    def _waiting(self, pools: list[Pool]) -> list[WaitingJob]:
        found: dict[int, WaitingJob] = {}
        for org, repos in self._repositories(pools).items():
            gh = self._auth.client(org)
            for full_name in sorted(repos):
                for job, run in self._queued_jobs(gh, full_name):
                    pool = match_github_pool(job.get("labels", []), pools, org=org, repository=full_name)
                    if pool is None or int(job["id"]) in found:
                        continue
                    request = ProvisionRequest(
                        forge="github",
                        pool=pool.name,
                        job_id=int(job["id"]),
                        org=org,
                        repository=full_name,
                        labels=tuple(job.get("labels", [])),
                        delivery_id="reconcile",
                    )
                    found[int(job["id"])] = WaitingJob(
                        request, _epoch(job.get("created_at") or run.get("created_at"))
                    )
        return list(found.values())

    def _repositories(self, pools: list[Pool]) -> dict[str, set[str]]:
        repos: dict[str, set[str]] = {}
        for pool in pools:
            if pool.github is None:
                continue
            org = pool.github.org
            listed = {r if "/" in r else f"{org}/{r}" for r in pool.github.repositories}
            if not listed:
                listed = self._installation_repositories(org)
            repos.setdefault(org, set()).update(listed)
        return repos

    def _installation_repositories(self, org: str) -> set[str]:
        gh = self._auth.client(org)
        names: set[str] = set()
        page = 1
        while len(names) < MAX_REPOSITORIES:
            _, data = gh.requester.requestJsonAndCheck(
                "GET", "/installation/repositories", parameters={"per_page": 100, "page": page}
            )
            batch = data.get("repositories", [])
            names.update(str(r["full_name"]) for r in batch)
            if len(batch) < 100:
                break
            page += 1
        return names

    @staticmethod
    def _queued_jobs(gh: Github, full_name: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        out: list[tuple[dict[str, Any], dict[str, Any]]] = []
        for status in _RUN_STATUSES:
            _, runs = gh.requester.requestJsonAndCheck(
                "GET", f"/repos/{full_name}/actions/runs", parameters={"status": status, "per_page": 100}
            )
            for run in runs.get("workflow_runs", []):
                _, jobs = gh.requester.requestJsonAndCheck(
                    "GET",
                    f"/repos/{full_name}/actions/runs/{int(run['id'])}/jobs",
                    parameters={"per_page": 100},
                )
                # Jobs waiting for an environment approval ("waiting") get no runner yet.
                out.extend((job, run) for job in jobs.get("jobs", []) if job.get("status") == "queued")
        return out

    async def redeliver_failed(self, since_s: float) -> int:
        if self._app is None:
            return 0  # only a GitHub App's hook has a deliveries API
        return await asyncio.to_thread(self._redeliver, since_s)

    def _redeliver(self, since_s: float) -> int:
        assert self._app is not None
        cutoff = time.time() - since_s
        _, deliveries = self._app.requester.requestJsonAndCheck(
            "GET", "/app/hook/deliveries", parameters={"per_page": 100}
        )
        by_guid: dict[str, list[dict[str, Any]]] = {}
        for delivery in deliveries if isinstance(deliveries, list) else []:
            by_guid.setdefault(str(delivery.get("guid")), []).append(delivery)
        redelivered = 0
        for attempts in by_guid.values():
            latest = max(attempts, key=lambda d: _epoch(d.get("delivered_at")))
            ok = any(200 <= int(d.get("status_code") or 0) < 300 for d in attempts)
            if ok or len(attempts) >= _MAX_ATTEMPTS or _epoch(latest.get("delivered_at")) < cutoff:
                continue
            try:
                self._app.requester.requestJsonAndCheck(
                    "POST", f"/app/hook/deliveries/{int(latest['id'])}/attempts"
                )
            except GithubException as exc:
                log.warning("github.redelivery_failed", delivery=latest.get("guid"), status=exc.status)
                continue
            redelivered += 1
            log.info("github.redelivered", delivery=latest.get("guid"), hook_event=latest.get("event"))
        return redelivered

    async def close(self) -> None:
        if self._app is not None:
            await asyncio.to_thread(self._app.close)
