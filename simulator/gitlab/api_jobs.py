"""Project jobs: list (filtered by `scope`), read one (where `tag_list` lives), cancel."""

from __future__ import annotations

from aiohttp import web

from simulator.gitlab.auth import READ
from simulator.gitlab.core import GitLabCore
from simulator.gitlab.errors import bad_request, not_found
from simulator.gitlab.model import JOB_STATUSES, Job
from simulator.gitlab.pagination import paginate
from simulator.gitlab.wire import int_param
from simulator.http import json_response

API = "/api/v4"


class JobRoutes:
    def __init__(self, core: GitLabCore) -> None:
        self._core = core

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{API}/projects/{{project_id}}/jobs", self.list_jobs),
            web.get(f"{API}/projects/{{project_id}}/jobs/{{job_id}}", self.get_job),
            web.post(f"{API}/projects/{{project_id}}/jobs/{{job_id}}/cancel", self.cancel_job),
        ]

    async def list_jobs(self, request: web.Request) -> web.Response:
        self._core.auth.authenticate(request, READ)
        project = self._core.directory.project(request.match_info["project_id"])
        scopes = _scopes(request)
        jobs = [j for j in self._core.ci.jobs_of(project.id) if not scopes or j.status in scopes]
        chunk, headers = paginate(request, sorted(jobs, key=lambda j: j.id, reverse=True))
        return json_response([self._core.urls.job(j) for j in chunk], headers=headers)

    async def get_job(self, request: web.Request) -> web.Response:
        self._core.auth.authenticate(request, READ)
        return json_response(self._core.urls.job(self._job(request)))

    async def cancel_job(self, request: web.Request) -> web.Response:
        # Cancelling is a write: only the `api` scope allows it.
        self._core.auth.authenticate(request, ())
        job = self._job(request)
        if not job.finished:
            self._core.ci.cancel_job(job.id)
        return json_response(self._core.urls.job(job), status=201)

    def _job(self, request: web.Request) -> Job:
        project = self._core.directory.project(request.match_info["project_id"])
        job = self._core.ci.job(int_param(request, "job_id", "Job"))
        if job.project_id != project.id:
            raise not_found("Job")
        return job


def _scopes(request: web.Request) -> set[str]:
    """`scope[]=a&scope[]=b`, `scope=a` or `scope=a,b`, as GitLab's array parameters accept."""
    values = [*request.query.getall("scope[]", []), *request.query.getall("scope", [])]
    scopes = {part.strip() for value in values for part in value.split(",") if part.strip()}
    if not scopes <= set(JOB_STATUSES):
        raise bad_request("scope does not have a valid value")
    return scopes
