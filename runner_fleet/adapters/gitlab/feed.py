"""Recover missed GitLab Job Hooks: list pending jobs in the pools' groups and projects."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

from runner_fleet.adapters.gitlab.client import GitLabClient
from runner_fleet.adapters.gitlab.protection import ProtectedRefs
from runner_fleet.logs import get_logger
from runner_fleet.matching import match_gitlab_pool
from runner_fleet.messages import ProvisionRequest
from runner_fleet.ports.feeds import WaitingJob
from runner_fleet.settings.pool import Pool

log = get_logger("gitlab.feed")

# Bound the work per round for large groups.
MAX_PROJECTS = 200


def _epoch(stamp: Any) -> float:
    if not isinstance(stamp, str):
        return time.time()
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


class GitLabFeed:
    def __init__(self, client: GitLabClient, protected: ProtectedRefs | None = None) -> None:
        self._client = client
        self._protected = protected or ProtectedRefs(client)
        self._resume_at = 0

    async def waiting_jobs(self, pools: list[Pool]) -> list[WaitingJob]:
        return await asyncio.to_thread(self._waiting, pools)

    def _waiting(self, pools: list[Pool]) -> list[WaitingJob]:
        if not self._client.rate_limit.scan_may_spend():
            log.warning("gitlab.scan_skipped_at_rate_limit_reserve")
            return []
        gl = self._client.api()
        projects: dict[int, str] = {}
        covering: dict[int, list[Pool]] = {}
        for pool in pools:
            scope = pool.gitlab
            if scope is None:
                continue
            if scope.project_id is not None:
                project = gl.projects.get(scope.project_id)
                projects[int(project.id)] = str(project.path_with_namespace)
                covering.setdefault(int(project.id), []).append(pool)
            elif scope.group_id is not None:
                group = gl.groups.get(scope.group_id, lazy=True)
                for listed in group.projects.list(include_subgroups=True, iterator=True, per_page=100):
                    projects[int(listed.id)] = str(listed.path_with_namespace)
                    covering.setdefault(int(listed.id), []).append(pool)
                    if len(projects) >= MAX_PROJECTS:
                        break
        waiting: list[WaitingJob] = []
        for scanned, (project_id, path) in enumerate(sorted(projects.items())):
            if not self._client.rate_limit.scan_may_spend():
                # What is left of the window is for creating and deleting runners; the next round
                # scans again (projects in a stable order, so a backlog is not skipped for ever).
                log.warning(
                    "gitlab.scan_stopped_at_rate_limit_reserve",
                    scanned=scanned,
                    skipped=len(projects) - scanned,
                )
                break
            jobs = gl.projects.get(project_id, lazy=True).jobs.list(
                scope=["pending"], iterator=True, per_page=100
            )
            for job in jobs:
                # The pool is chosen at provision time from the job's tags, as for a Job Hook.
                request = ProvisionRequest(
                    forge="gitlab",
                    pool="",
                    job_id=int(job.id),
                    project_id=project_id,
                    repository=path,
                    delivery_id="reconcile",
                )
                serving = match_gitlab_pool(
                    job.attributes.get("tag_list") or (),
                    self._takers(job, project_id, covering.get(project_id, [])),
                )
                if serving is None:
                    continue  # no pool serves its tags: left alone, as a Job Hook would leave it
                waiting.append(
                    WaitingJob(request, _epoch(job.attributes.get("created_at")), pool_hint=serving.name)
                )
        return waiting

    def _takers(self, job: Any, project_id: int, pools: list[Pool]) -> list[Pool]:
        """The pools whose runners could take the job: ref_protected ones only on a protected ref."""
        if not any(p.gitlab and p.gitlab.access_level == "ref_protected" for p in pools):
            return pools
        ref, tag = str(job.attributes.get("ref") or ""), bool(job.attributes.get("tag"))
        if self._protected.is_protected(project_id, ref, tag=tag):
            return pools
        return [p for p in pools if p.gitlab and p.gitlab.access_level != "ref_protected"]

    async def redeliver_failed(self, since_s: float) -> int:
        # Pending jobs are found by the scan above; GitLab's hook-event resend API is not needed for that.
        return 0

    async def close(self) -> None:
        return None
