"""Runner management: create with an authentication token (`POST /user/runners`), read, list
(instance-wide, per group, per project), delete, and unregister with the runner token; and the
runner API that gitlab-runner speaks: verify its token, ask for a job, update the job.

The runner API is read from gitlab-org/gitlab `lib/api/ci/runner.rb` (`POST /runners/verify`,
`POST /jobs/request`, `PUT /jobs/:id`) and gitlab-runner 19.4 `network/gitlab.go` (`VerifyRunner`,
`RequestJob`, `UpdateJob`): the runner token travels in the JSON body (`token`, required: 400
without it), job updates carry the job token; a job is answered 201, no job 204, a bad token 403.
Protected CI variables reach only jobs on protected refs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from aiohttp import web

from simulator.forge import Routes
from simulator.gitlab.auth import CREATE_RUNNER, MANAGE_RUNNER, READ_RUNNERS
from simulator.gitlab.ci import RunnerSpec
from simulator.gitlab.config import MAINTAINER, OWNER
from simulator.gitlab.context import GitLabContext
from simulator.gitlab.errors import (
    API,
    bad_request,
    boolean,
    forbidden,
    int_param,
    optional_int,
    query_bool,
    read_params,
    string_list,
)
from simulator.gitlab.model import RUNNER_TYPES, Job, Runner, RunnerType
from simulator.http import json_response
from simulator.pagination import gitlab_page

STATUSES = ("online", "offline", "stale", "never_contacted")
# The deprecated `scope` filter: statuses, plus paused/active, plus (instance-wide) types.
SCOPES = (*STATUSES, "active", "paused")
ALL_SCOPES = (*SCOPES, "specific", "shared", *RUNNER_TYPES)


class RunnerRoutes(Routes[GitLabContext]):
    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(f"{API}/user/runners", self.create),
            web.get(f"{API}/runners/all", self.list_all),
            web.get(f"{API}/runners", self.list_owned),
            web.delete(f"{API}/runners", self.unregister),
            web.get(f"{API}/runners/{{runner_id}}", self.get),
            web.get(f"{API}/runners/{{runner_id}}/jobs", self.jobs),
            web.delete(f"{API}/runners/{{runner_id}}", self.delete),
            web.get(f"{API}/groups/{{group_id}}/runners", self.list_group),
            web.get(f"{API}/projects/{{project_id}}/runners", self.list_project),
        ]

    async def create(self, request: web.Request) -> web.Response:
        principal = self._ctx.auth.authenticate(request, CREATE_RUNNER)
        params = await read_params(request)
        runner = self._ctx.ci.create_runner(_runner_spec(params), creator=principal.user)
        return json_response(self._ctx.urls.created_runner(runner), status=201)

    def _managed_runner(self, request: web.Request, scopes: tuple[str, ...]) -> Runner:
        """A runner the caller may read or change: an administrator, or the role that creating it
        needs (Owner of its group, Maintainer of its project); instance runners only admins change.
        GitLab hides a runner the user may not see behind 403 (lib/api/ci/runners.rb,
        `authenticate_show_runner!`, `authenticate_delete_runner!`)."""
        principal = self._ctx.auth.authenticate(request, scopes)
        runner = self._ctx.ci.runner(int_param(request, "runner_id", "Runner"))
        directory = self._ctx.directory
        if runner.group_id is not None:
            allowed = directory.may(principal.user, directory.group(runner.group_id), OWNER)
        elif runner.project_id is not None:
            allowed = directory.may(principal.user, directory.project(runner.project_id), MAINTAINER)
        else:
            allowed = principal.admin
        if not allowed:
            raise forbidden()
        return runner

    async def get(self, request: web.Request) -> web.Response:
        runner = self._managed_runner(request, READ_RUNNERS)
        return json_response(self._ctx.urls.runner_details(runner))

    async def jobs(self, request: web.Request) -> web.Response:
        """`GET /runners/:id/jobs?status=running`: the jobs a runner has processed, newest first."""
        runner = self._managed_runner(request, READ_RUNNERS)
        status = request.query.get("status")
        if status is not None and status not in ("running", "success", "failed", "canceled"):
            raise bad_request("status does not have a valid value")
        jobs = [
            job
            for job in self._ctx.ci.all_jobs()
            if job.runner_id == runner.id and (status is None or job.status == status)
        ]
        chunk, headers = gitlab_page(request, sorted(jobs, key=lambda j: j.id, reverse=True))
        return json_response([self._ctx.urls.job(job) for job in chunk], headers=headers)

    async def delete(self, request: web.Request) -> web.Response:
        runner = self._managed_runner(request, MANAGE_RUNNER)
        self._ctx.ci.delete_runner(runner.id)
        return web.Response(status=204)

    async def list_owned(self, request: web.Request) -> web.Response:
        self._ctx.auth.authenticate(request, READ_RUNNERS)
        runners = [r for r in self._ctx.ci.registered_runners() if r.runner_type != "instance_type"]
        return self._listing(request, runners, SCOPES)

    async def list_all(self, request: web.Request) -> web.Response:
        self._ctx.auth.authenticate(request, READ_RUNNERS).require_admin()
        return self._listing(request, self._ctx.ci.registered_runners(), ALL_SCOPES)

    async def list_group(self, request: web.Request) -> web.Response:
        principal = self._ctx.auth.authenticate(request, READ_RUNNERS)
        directory = self._ctx.directory
        group = directory.group(request.match_info["group_id"])
        if not directory.may(principal.user, group, OWNER):
            raise forbidden()  # runner docs: group runners are listed by the group's Owners
        lineage = {g.id for g in directory.lineage(group)}
        runners = [
            r
            for r in self._ctx.ci.registered_runners()
            if r.runner_type == "instance_type" or r.group_id in lineage
        ]
        return self._listing(request, runners, SCOPES)

    async def list_project(self, request: web.Request) -> web.Response:
        principal = self._ctx.auth.authenticate(request, READ_RUNNERS)
        project = self._ctx.directory.project(request.match_info["project_id"])
        if not self._ctx.directory.may(principal.user, project, MAINTAINER):
            raise forbidden()
        runners = [r for r in self._ctx.ci.registered_runners() if self._ctx.ci.covers(r, project)]
        return self._listing(request, runners, SCOPES)

    async def unregister(self, request: web.Request) -> web.Response:
        """`gitlab-runner unregister`: the runner deletes its own registration with its token."""
        params = await read_params(request)
        runner = self._ctx.ci.runner_by_token(str(params.get("token", "")))
        if runner is None:
            raise forbidden()
        self._ctx.ci.delete_runner(runner.id)
        return web.Response(status=204)

    def _listing(self, request: web.Request, runners: list[Runner], scopes: Iterable[str]) -> web.Response:
        selected = self._filter(request, runners, tuple(scopes))
        chunk, headers = gitlab_page(request, sorted(selected, key=lambda r: r.id, reverse=True))
        return json_response([self._ctx.urls.runner(r) for r in chunk], headers=headers)

    def _filter(self, request: web.Request, runners: list[Runner], scopes: tuple[str, ...]) -> list[Runner]:
        query = request.query
        runner_type = query.get("type")
        if runner_type is not None and runner_type not in RUNNER_TYPES:
            raise bad_request("type does not have a valid value")
        status = query.get("status")
        if status is not None and status not in (*STATUSES, "active", "paused"):
            raise bad_request("status does not have a valid value")
        scope = query.get("scope")
        if scope is not None and scope not in scopes:
            raise bad_request("scope does not have a valid value")
        paused = query_bool(request, "paused")
        tags = set(string_list(query.get("tag_list"), "tag_list"))
        selected = []
        for runner in runners:
            current, _ = self._ctx.ci.status_of(runner)
            if runner_type is not None and runner.runner_type != runner_type:
                continue
            if paused is not None and runner.paused != paused:
                continue
            if tags and not tags <= set(runner.tags):
                continue
            if not all(_matches(runner, current, wanted) for wanted in (status, scope) if wanted):
                continue
            selected.append(runner)
        return selected


def _matches(runner: Runner, status: str, wanted: str) -> bool:
    if wanted in STATUSES:
        return status == wanted
    if wanted == "active":
        return not runner.paused
    if wanted == "paused":
        return runner.paused
    if wanted == "shared":
        return runner.is_shared
    if wanted == "specific":
        return not runner.is_shared
    return runner.runner_type == wanted


def _runner_spec(params: dict[str, Any]) -> RunnerSpec:
    runner_type = params.get("runner_type")
    if runner_type is None:
        raise bad_request("runner_type is missing")
    if runner_type not in RUNNER_TYPES:
        raise bad_request("runner_type does not have a valid value")
    description = params.get("description", "")
    if not isinstance(description, str):
        raise bad_request("description is invalid")
    access_level = params.get("access_level", "not_protected")
    if access_level not in ("not_protected", "ref_protected"):
        raise bad_request("access_level does not have a valid value")
    note = params.get("maintenance_note")
    if note is not None and not isinstance(note, str):
        raise bad_request("maintenance_note is invalid")
    paused = boolean(params, "paused", False)
    if "active" in params:
        # The deprecated inverse of `paused`.
        paused = not boolean(params, "active", True)
    return RunnerSpec(
        runner_type=cast(RunnerType, runner_type),
        group_id=optional_int(params, "group_id"),
        project_id=optional_int(params, "project_id"),
        description=description,
        tags=tuple(string_list(params.get("tag_list"), "tag_list")),
        run_untagged=boolean(params, "run_untagged", True),
        paused=paused,
        locked=boolean(params, "locked", False),
        access_level=str(access_level),
        maximum_timeout=optional_int(params, "maximum_timeout"),
        maintenance_note=note,
    )


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


class RunnerApiRoutes(Routes[GitLabContext]):
    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(f"{API}/runners/verify", self.verify),
            web.post(f"{API}/jobs/request", self.request_job),
            web.put(f"{API}/jobs/{{job_id}}", self.update_job),
            web.post("/_sim/runner/host-lost", self.host_lost),
        ]

    async def host_lost(self, request: web.Request) -> web.Response:
        """Not a call gitlab-runner makes: the simulated VM says that its machine went away, which
        GitLab learns only from the job's updates stopping."""
        params = await read_params(request)
        job_id, job_token = params.get("job_id"), params.get("job_token")
        jobs = self._ctx.ci.host_lost(
            _token(params),
            job_id if isinstance(job_id, int) and not isinstance(job_id, bool) else None,
            job_token if isinstance(job_token, str) else None,
        )
        return json_response({"jobs": [job.id for job in jobs]})

    async def verify(self, request: web.Request) -> web.Response:
        params = await read_params(request)
        runner = self._ctx.ci.verify(_token(params), _runner_name(params))
        return json_response({"id": runner.id, "token": runner.token, "token_expires_at": None})

    async def request_job(self, request: web.Request) -> web.Response:
        params = await read_params(request)
        job = self._ctx.ci.request_job(_token(params), _runner_name(params))
        if job is None:
            return web.Response(status=204)
        return json_response(self._job_payload(job), status=201)

    async def update_job(self, request: web.Request) -> web.Response:
        params = await read_params(request)
        state, reason = params.get("state"), params.get("failure_reason")
        job = self._ctx.ci.update_job(
            int_param(request, "job_id", "Job"),
            _token(params),
            state if isinstance(state, str) else None,
            reason if isinstance(reason, str) else None,
        )
        return web.Response(status=200, text="200", headers={"Job-Status": job.status})

    def _job_payload(self, job: Job) -> dict[str, Any]:
        """The parts of `Entities::Ci::JobRequest::Response` a runner needs to run the job."""
        directory = self._ctx.directory
        project = directory.project(job.project_id)
        runner = self._ctx.ci.registered_runner(job.runner_id)
        assert job.token is not None and runner is not None  # just assigned
        base = self._ctx.urls.base_url
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
