"""Workflow run and job REST routes, which a service reads to catch up on missed webhooks."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from simulator.forge import Routes
from simulator.github.config import Repository
from simulator.github.context import SimContext
from simulator.github.errors import int_param, not_found
from simulator.github.representations import job_json, repo_json, run_json, run_state
from simulator.http import json_response
from simulator.pagination import numbered_page


class ActionsRoutes(Routes[SimContext]):
    def routes(self) -> list[web.RouteDef]:
        base = "/repos/{owner}/{repo}/actions"
        return [
            web.get(f"{base}/runs", self.list_runs),
            web.get(f"{base}/runs/{{run_id}}", self.get_run),
            web.get(f"{base}/runs/{{run_id}}/jobs", self.list_run_jobs),
            web.get(f"{base}/jobs/{{job_id}}", self.get_job),
        ]

    def _repository_json(self, repo: Repository) -> dict[str, Any]:
        return repo_json(self._ctx.base_url, repo, self._ctx.directory.account(repo.owner))

    async def list_runs(self, request: web.Request) -> web.Response:
        repo = self._ctx.repo(request, "actions")
        actions = self._ctx.actions
        runs = sorted(actions.runs_of(repo.owner, repo.name), key=lambda r: r.id, reverse=True)
        wanted = request.query.get("status")
        if wanted:
            # GitHub's `status` filter accepts a status or a conclusion.
            runs = [r for r in runs if wanted in run_state(actions.jobs_of(r))]
        page, headers = numbered_page(request, runs)
        repository = self._repository_json(repo)
        body = {
            "total_count": len(runs),
            "workflow_runs": [run_json(self._ctx.base_url, r, actions.jobs_of(r), repository) for r in page],
        }
        return json_response(body, headers=headers)

    async def get_run(self, request: web.Request) -> web.Response:
        repo = self._ctx.repo(request, "actions")
        run = self._ctx.actions.run(repo.owner, repo.name, int_param(request, "run_id"))
        jobs = self._ctx.actions.jobs_of(run)
        return json_response(run_json(self._ctx.base_url, run, jobs, self._repository_json(repo)))

    async def list_run_jobs(self, request: web.Request) -> web.Response:
        repo = self._ctx.repo(request, "actions")
        run = self._ctx.actions.run(repo.owner, repo.name, int_param(request, "run_id"))
        jobs = self._ctx.actions.jobs_of(run)
        page, headers = numbered_page(request, jobs)
        body = {"total_count": len(jobs), "jobs": [job_json(self._ctx.base_url, j) for j in page]}
        return json_response(body, headers=headers)

    async def get_job(self, request: web.Request) -> web.Response:
        repo = self._ctx.repo(request, "actions")
        job = self._ctx.actions.job(int_param(request, "job_id"))
        if (job.owner, job.repo) != (repo.owner, repo.name):
            raise not_found()
        return json_response(job_json(self._ctx.base_url, job))
