"""Resolve a pending GitLab job to a pool: read its tags and project, which the Job Hook lacks."""

from __future__ import annotations

import asyncio
import threading

from gitlab.exceptions import GitlabError

from runner_fleet.adapters.gitlab.client import GitLabClient
from runner_fleet.adapters.gitlab.protection import ProtectedRefs
from runner_fleet.matching import match_gitlab_pool
from runner_fleet.ports.jobs import JobRef, Resolution
from runner_fleet.settings.pool import Pool


class GitLabJobResolver:
    def __init__(self, client: GitLabClient, protected: ProtectedRefs | None = None) -> None:
        self._client = client
        self._protected = protected or ProtectedRefs(client)
        self._group_paths: dict[int, str] = {}
        self._lock = threading.Lock()

    async def resolve(self, job: JobRef, pools: list[Pool]) -> Resolution:
        if job.project_id is None:
            return Resolution(None, "no project to ask about the job")
        return await asyncio.to_thread(self._resolve, job.job_id, job.project_id, pools)

    def _resolve(self, job_id: int, project_id: int, pools: list[Pool]) -> Resolution:
        gl = self._client.api()
        try:
            # GitLab answers 404 unless the job belongs to this project: id and project agree.
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
        # The hook's project path is not signed (only a shared token guards it): a forged hook could
        # pair an outside project's id with an inside path. GitLab's own record decides.
        path = self._project_path(project_id)
        covering = [pool for pool in pools if self._covers(pool, project_id, path)]
        if any(pool.gitlab and pool.gitlab.access_level == "ref_protected" for pool in covering):
            ref, tag = str(job.attributes.get("ref") or ""), bool(job.attributes.get("tag"))
            if not self._protected.is_protected(project_id, ref, tag=tag):
                # A ref_protected runner would never take it: a VM made for it would only idle.
                covering = [p for p in covering if p.gitlab and p.gitlab.access_level != "ref_protected"]
        pool = match_gitlab_pool(tags, covering)
        return Resolution(pool, "" if pool else f"no pool serves tags {list(tags)} on this ref")

    def _covers(self, pool: Pool, project_id: int, project_path: str) -> bool:
        scope = pool.gitlab
        if scope is None:
            return False
        if scope.project_id is not None:
            return scope.project_id == project_id
        assert scope.group_id is not None
        # A group runner serves the group's projects and those of all its subgroups.
        return project_path.startswith(self._group_path(scope.group_id) + "/")

    def _project_path(self, project_id: int) -> str:
        # Read each time, not cached: a project moved out of the group must stop being served.
        return str(self._client.api().projects.get(project_id).path_with_namespace)

    async def status(self, job: JobRef) -> str | None:
        job_id, project_id = job.job_id, job.project_id
        if project_id is None:
            return None

        def _status() -> str | None:
            try:
                job = self._client.api().projects.get(project_id, lazy=True).jobs.get(job_id)
            except GitlabError as exc:
                if exc.response_code == 404:
                    return None
                raise
            return str(job.status)

        return await asyncio.to_thread(_status)

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
