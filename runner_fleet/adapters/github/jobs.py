"""Ask GitHub about a job before acting on it: still queued, and where its labels and repository lead.

`X-GitHub-Delivery` is not covered by the webhook signature, so a captured `queued` delivery can
be replayed under a new ID; and a job may be taken, cancelled or finished before its provision
runs. Each provision therefore reads the job (`GET /repos/{o}/{r}/actions/jobs/{id}`: status,
labels) and picks the pool from GitHub's answer, not the webhook's. The repository's visibility
comes from the job's run (`GET /repos/{o}/{r}/actions/runs/{id}`: `repository.private`, and the
`event` and `head_repository` that tell a pull request from a fork); a repository GitHub said was
private is believed for a few minutes, so a burst of jobs costs one read each, not two. Every call
goes through the credential's budget like registration does: only GitHub's own "wait" holds them
back, never the recovery scan's reserve.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from github import GithubException

from runner_fleet.adapters.github.auth import GitHubAuth
from runner_fleet.adapters.github.calls import Session, call, error_message
from runner_fleet.adapters.github.registry import GitHubApiError
from runner_fleet.matching import match_github_pool
from runner_fleet.ports.jobs import JobRef, Resolution
from runner_fleet.provenance import from_fork, full_name, is_public
from runner_fleet.settings.pool import Pool

# How long GitHub's word that a repository is private stands. A repository made public meanwhile is
# treated as private for at most this long; a public one is read again for every job.
PRIVATE_FOR_S = 300.0


class GitHubJobResolver:
    def __init__(self, auth: GitHubAuth, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._auth = auth
        self._clock = clock
        self._lock = threading.Lock()
        self._private_until: dict[str, float] = {}

    async def resolve(self, job: JobRef, pools: list[Pool]) -> Resolution:
        return await asyncio.to_thread(self._resolve, job, pools)

    async def status(self, job: JobRef) -> str | None:
        def _status() -> str | None:
            path = _repository_path(job)
            if path is None:
                return None
            found = _get(self._session(job), f"/repos/{path}/actions/jobs/{int(job.job_id)}")
            return None if found is None else str(found.get("status"))

        return await asyncio.to_thread(_status)

    def _resolve(self, ref: JobRef, pools: list[Pool]) -> Resolution:
        path = _repository_path(ref)
        if path is None:
            return Resolution(None, "no repository to ask about the job")
        session = self._session(ref)
        job = _get(session, f"/repos/{path}/actions/jobs/{int(ref.job_id)}")
        if job is None:
            return Resolution(None, "job not found")
        if job.get("status") != "queued":
            return Resolution(None, f"job is {job.get('status')}, no longer queued")
        # GitHub answers a job of another repository with 404; its own URL says whose it is too.
        if f"/repos/{path}/actions/jobs/".casefold() not in str(job.get("url", "")).casefold():
            return Resolution(None, "GitHub names another repository for the job")
        name = ref.repository
        public = not self._known_private(name)
        if public:
            run = _get(session, f"/repos/{path}/actions/runs/{int(job['run_id'])}")
            if run is None:
                return Resolution(None, "the job's run was not found")
            public = is_public(run.get("repository"))
            if not public:
                self._remember_private(name)
            elif from_fork(run):
                head = full_name(run.get("head_repository"))
                return Resolution(None, f"a {run.get('event')} run from fork {head!r} of a public repository")
        labels = [str(label) for label in job.get("labels") or []]
        pool = match_github_pool(labels, pools, org=name.split("/")[0], repository=name, public=public)
        if pool is None:
            kind = "public repository" if public else "repository"
            return Resolution(None, f"no pool serves labels {labels} for {kind} {name}")
        return Resolution(pool)

    def _known_private(self, repository: str) -> bool:
        with self._lock:
            return self._private_until.get(repository.casefold(), 0.0) > self._clock()

    def _remember_private(self, repository: str) -> None:
        with self._lock:
            now = self._clock()
            # Forget what has expired, so the map holds only repositories with recent jobs.
            self._private_until = {k: v for k, v in self._private_until.items() if v > now}
            self._private_until[repository.casefold()] = now + PRIVATE_FOR_S

    def _session(self, job: JobRef) -> Session:
        return self._auth.session(job.org or job.repository.split("/")[0], job.installation_id)

    async def close(self) -> None:
        return None


def _repository_path(job: JobRef) -> str | None:
    owner, _, name = job.repository.partition("/")
    if not owner or not name or "/" in name:
        return None
    return f"{quote(owner)}/{quote(name)}"


def _get(session: Session, url: str) -> dict[str, Any] | None:
    try:
        data = call(session, "GET", url).data
    except GithubException as exc:
        if exc.status == 404:
            return None
        # PyGithub puts the whole response body in the exception; keep only GitHub's message.
        raise GitHubApiError(exc.status, error_message(exc)[:200]) from None
    return data if isinstance(data, dict) else None
