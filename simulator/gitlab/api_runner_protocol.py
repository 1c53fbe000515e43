"""The runner API that gitlab-runner speaks: verify its token, ask for a job, update the job.

Read from gitlab-org/gitlab `lib/api/ci/runner.rb` (`POST /runners/verify`, `POST /jobs/request`,
`PUT /jobs/:id`) and gitlab-runner 19.4 `network/gitlab.go` (`VerifyRunner`, `RequestJob`,
`UpdateJob`): the runner token travels in the JSON body (`token`, required: 400 without it), job
updates carry the job token; a job is answered 201, no job 204, a bad token 403. Protected CI
variables reach only jobs on protected refs.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from simulator.gitlab.core import GitLabCore
from simulator.gitlab.errors import bad_request
from simulator.gitlab.model import Job
from simulator.gitlab.wire import int_param, read_params
from simulator.http import json_response

API = "/api/v4"


def _token(params: dict[str, Any]) -> str:
    """The token GitLab requires in the body (`requires :token`): missing is 400, unknown 403."""
    token = params.get("token")
    if not isinstance(token, str) or not token:
        raise bad_request("token is missing")
    return token


def _runner_name(params: dict[str, Any]) -> str | None:
    info = params.get("info")
    name = info.get("name") if isinstance(info, dict) else None
    return name if isinstance(name, str) and name else None


class RunnerApiRoutes:
    def __init__(self, core: GitLabCore) -> None:
        self._core = core

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(f"{API}/runners/verify", self.verify),
            web.post(f"{API}/jobs/request", self.request_job),
            web.put(f"{API}/jobs/{{job_id}}", self.update_job),
        ]

    async def verify(self, request: web.Request) -> web.Response:
        params = await read_params(request)
        runner = self._core.ci.verify(_token(params), _runner_name(params))
        return json_response({"id": runner.id, "token": runner.token, "token_expires_at": None})

    async def request_job(self, request: web.Request) -> web.Response:
        params = await read_params(request)
        job = self._core.ci.request_job(_token(params), _runner_name(params))
        if job is None:
            return web.Response(status=204)
        return json_response(self._job_payload(job), status=201)

    async def update_job(self, request: web.Request) -> web.Response:
        params = await read_params(request)
        state, reason = params.get("state"), params.get("failure_reason")
        job = self._core.ci.update_job(
            int_param(request, "job_id", "Job"),
            _token(params),
            state if isinstance(state, str) else None,
            reason if isinstance(reason, str) else None,
        )
        return web.Response(status=200, text="200", headers={"Job-Status": job.status})

    def _job_payload(self, job: Job) -> dict[str, Any]:
        """The parts of `Entities::Ci::JobRequest::Response` a runner needs to run the job."""
        directory = self._core.directory
        project = directory.project(job.project_id)
        runner = self._core.ci.registered_runner(job.runner_id)
        assert job.token is not None and runner is not None  # just assigned
        base = self._core.base_url
        predefined = {
            "CI": "true",
            "GITLAB_CI": "true",
            "CI_SERVER_URL": base,
            "CI_JOB_ID": str(job.id),
            "CI_JOB_NAME": job.name,
            "CI_JOB_STAGE": job.stage,
            "CI_JOB_TOKEN": job.token,
            "CI_PIPELINE_ID": str(job.pipeline.id),
            "CI_PROJECT_ID": str(project.id),
            "CI_PROJECT_PATH": project.path_with_namespace,
            "CI_COMMIT_REF_NAME": job.pipeline.ref,
            "CI_COMMIT_SHA": job.pipeline.sha,
            "CI_COMMIT_REF_PROTECTED": str(job.pipeline.protected).lower(),
            "CI_RUNNER_ID": str(runner.id),
            "CI_RUNNER_DESCRIPTION": runner.description,
            "CI_RUNNER_TAGS": ",".join(runner.tags),
        }
        variables = [
            {"key": key, "value": value, "public": key != "CI_JOB_TOKEN", "masked": key == "CI_JOB_TOKEN"}
            for key, value in predefined.items()
        ] + [
            {"key": v.key, "value": v.value, "public": False, "masked": True}
            for v in project.variables
            if job.pipeline.protected or not v.protected
        ]
        return {
            "id": job.id,
            "token": job.token,
            "allow_git_fetch": True,
            "job_info": {
                "id": job.id,
                "name": job.name,
                "stage": job.stage,
                "project_id": project.id,
                "project_name": project.display_name,
            },
            "git_info": {
                "repo_url": f"{base}/{project.path_with_namespace}.git",
                "ref": job.pipeline.ref,
                "sha": job.pipeline.sha,
                "before_sha": job.pipeline.before_sha,
                "ref_type": "branch",
                "refspecs": [f"+refs/heads/{job.pipeline.ref}:refs/remotes/origin/{job.pipeline.ref}"],
                "depth": 20,
            },
            "runner_info": {"timeout": runner.maximum_timeout or 3600},
            "variables": variables,
            "steps": [
                {
                    "name": "script",
                    "script": list(job.script),
                    "timeout": runner.maximum_timeout or 3600,
                    "when": "on_success",
                    "allow_failure": False,
                }
            ],
            "image": None,
            "services": [],
            "artifacts": [],
            "cache": [],
            "credentials": [],
            "dependencies": [],
            "features": {"trace_sections": True, "failure_reasons": ["script_failure"]},
        }
