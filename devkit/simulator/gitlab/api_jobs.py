"""Project jobs: list (filtered by `scope`), read one (where `tag_list` lives), cancel."""

from __future__ import annotations

from aiohttp import web

from simulator.forge import Routes
from simulator.gitlab.auth import READ
from simulator.gitlab.config import DEVELOPER, REPORTER, Project
from simulator.gitlab.context import GitLabContext
from simulator.gitlab.errors import API, bad_request, forbidden, int_param, not_found
from simulator.gitlab.model import JOB_STATUSES, Job
from simulator.http import json_response
from simulator.pagination import gitlab_page


class JobRoutes(Routes[GitLabContext]):
    def routes(self) -> list[web.RouteDef]:
        return [
            web.get(f"{API}/projects/{{project_id}}/jobs", self.list_jobs),
            web.get(f"{API}/projects/{{project_id}}/jobs/{{job_id}}", self.get_job),
            web.post(f"{API}/projects/{{project_id}}/jobs/{{job_id}}/cancel", self.cancel_job),
        ]

    def _project(self, request: web.Request, scopes: tuple[str, ...], role: int) -> Project:
        """The project, if the caller has `role` in it (read_build: Reporter; cancel_build: Developer)."""
        principal = self._ctx.auth.authenticate(request, scopes)
        project = self._ctx.directory.project(request.match_info["project_id"])
        if not self._ctx.directory.may(principal.user, project, role):
            raise forbidden()
        return project

    async def list_jobs(self, request: web.Request) -> web.Response:
        project = self._project(request, READ, REPORTER)
        scopes = _scopes(request)
        jobs = [j for j in self._ctx.ci.jobs_of(project.id) if not scopes or j.status in scopes]
        chunk, headers = gitlab_page(request, sorted(jobs, key=lambda j: j.id, reverse=True))
        return json_response([self._ctx.urls.job(j) for j in chunk], headers=headers)

    async def get_job(self, request: web.Request) -> web.Response:
        project = self._project(request, READ, REPORTER)
        return json_response(self._ctx.urls.job(self._job(request, project)))

    async def cancel_job(self, request: web.Request) -> web.Response:
        # Cancelling is a write: only the `api` scope allows it.
        project = self._project(request, (), DEVELOPER)
        job = self._job(request, project)
        if not job.finished:
            self._ctx.ci.cancel_job(job.id)
        return json_response(self._ctx.urls.job(job), status=201)

    def _job(self, request: web.Request, project: Project) -> Job:
        job = self._ctx.ci.job(int_param(request, "job_id", "Job"))
        if job.project_id != project.id:
            raise not_found("Job")
        return job


def _scopes(request: web.Request) -> set[str]:
    """`scope[]=a&scope[]=b` or `scope=a`: each value one status (lib/api/ci/jobs.rb, `scope` is an
    array of statuses; `scope=a,b` is one value that is no status, so 400)."""
    values = [*request.query.getall("scope[]", []), *request.query.getall("scope", [])]
    if not set(values) <= set(JOB_STATUSES):
        raise bad_request("scope does not have a valid value")
    return set(values)
