"""Resolve a pending GitLab job to a pool: read its tags and project, which the Job Hook lacks."""

from __future__ import annotations

import asyncio
import threading

from gitlab.exceptions import GitlabError

from runner_fleet.adapters.gitlab.client import GitLabClient
from runner_fleet.matching import match_gitlab_pool
from runner_fleet.ports.jobs import Resolution
from runner_fleet.settings.pool import Pool


class GitLabJobResolver:
    def __init__(self, client: GitLabClient) -> None:
        self._client = client
        self._group_paths: dict[int, str] = {}
        self._lock = threading.Lock()

    async def resolve(self, job_id: int, project_id: int, project_path: str, pools: list[Pool]) -> Resolution:
        return await asyncio.to_thread(self._resolve, job_id, project_id, project_path, pools)

    def _resolve(self, job_id: int, project_id: int, project_path: str, pools: list[Pool]) -> Resolution:
        gl = self._client.api()
        try:
            job = gl.projects.get(project_id, lazy=True).jobs.get(job_id)
        except GitlabError as exc:
            if exc.response_code == 404:
                return Resolution(None, "job not found")
            raise
        if job.status != "pending":
            return Resolution(None, f"job is {job.status}, no longer pending")
        tags = tuple(job.attributes.get("tag_list") or ())
        if not tags:
            return Resolution(None, "untagged jobs are never taken")
        covering = [pool for pool in pools if self._covers(pool, project_id, project_path)]
        pool = match_gitlab_pool(tags, covering)
        return Resolution(pool, "" if pool else f"no pool serves tags {list(tags)}")

    def _covers(self, pool: Pool, project_id: int, project_path: str) -> bool:
        scope = pool.gitlab
        if scope is None:
            return False
        if scope.project_id is not None:
            return scope.project_id == project_id
        assert scope.group_id is not None
        # A group runner serves the group's projects and those of all its subgroups.
        return project_path.startswith(self._group_path(scope.group_id) + "/")

    def _group_path(self, group_id: int) -> str:
        with self._lock:
            known = self._group_paths.get(group_id)
        if known is None:
            known = str(self._client.api().groups.get(group_id).full_path)
            with self._lock:
                self._group_paths[group_id] = known
        return known

    async def close(self) -> None:
        return None
