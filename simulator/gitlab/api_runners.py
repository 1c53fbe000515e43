"""Runner management: create with an authentication token (`POST /user/runners`), read, list
(instance-wide, per group, per project), delete, and unregister with the runner token."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from aiohttp import web

from simulator.gitlab.auth import CREATE_RUNNER, MANAGE_RUNNER, READ_RUNNERS
from simulator.gitlab.ci import RunnerSpec
from simulator.gitlab.config import MAINTAINER, OWNER
from simulator.gitlab.core import GitLabCore
from simulator.gitlab.errors import bad_request, forbidden
from simulator.gitlab.model import RUNNER_TYPES, Runner, RunnerType
from simulator.gitlab.pagination import paginate
from simulator.gitlab.wire import boolean, int_param, optional_int, query_bool, read_params, string_list
from simulator.http import json_response

API = "/api/v4"
STATUSES = ("online", "offline", "stale", "never_contacted")
# The deprecated `scope` filter: statuses, plus paused/active, plus (instance-wide) types.
SCOPES = (*STATUSES, "active", "paused")
ALL_SCOPES = (*SCOPES, "specific", "shared", *RUNNER_TYPES)


class RunnerRoutes:
    def __init__(self, core: GitLabCore) -> None:
        self._core = core

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
        principal = self._core.auth.authenticate(request, CREATE_RUNNER)
        params = await read_params(request)
        runner = self._core.ci.create_runner(_runner_spec(params), creator=principal.user)
        return json_response(self._core.urls.created_runner(runner), status=201)

    def _managed_runner(self, request: web.Request, scopes: tuple[str, ...]) -> Runner:
        """A runner the caller may read or change: an administrator, or the role that creating it
        needs (Owner of its group, Maintainer of its project); instance runners only admins change.
        GitLab hides a runner the user may not see behind 403 (lib/api/ci/runners.rb,
        `authenticate_show_runner!`, `authenticate_delete_runner!`)."""
        principal = self._core.auth.authenticate(request, scopes)
        runner = self._core.ci.runner(int_param(request, "runner_id", "Runner"))
        if principal.admin:
            return runner
        directory = self._core.directory
        user = principal.user.username
        if runner.group_id is not None:
            allowed = directory.group_role(user, directory.group(runner.group_id)) >= OWNER
        elif runner.project_id is not None:
            allowed = directory.project_role(user, directory.project(runner.project_id)) >= MAINTAINER
        else:
            allowed = False
        if not allowed:
            raise forbidden()
        return runner

    async def get(self, request: web.Request) -> web.Response:
        runner = self._managed_runner(request, READ_RUNNERS)
        return json_response(self._core.urls.runner_details(runner))

    async def jobs(self, request: web.Request) -> web.Response:
        """`GET /runners/:id/jobs?status=running`: the jobs a runner has processed, newest first."""
        runner = self._managed_runner(request, READ_RUNNERS)
        status = request.query.get("status")
        if status is not None and status not in ("running", "success", "failed", "canceled"):
            raise bad_request("status does not have a valid value")
        jobs = [
            job
            for job in self._core.ci.all_jobs()
            if job.runner_id == runner.id and (status is None or job.status == status)
        ]
        chunk, headers = paginate(request, sorted(jobs, key=lambda j: j.id, reverse=True))
        return json_response([self._core.urls.job(job) for job in chunk], headers=headers)

    async def delete(self, request: web.Request) -> web.Response:
        runner = self._managed_runner(request, MANAGE_RUNNER)
        self._core.ci.delete_runner(runner.id)
        return web.Response(status=204)

    async def list_owned(self, request: web.Request) -> web.Response:
        self._core.auth.authenticate(request, READ_RUNNERS)
        runners = [r for r in self._core.ci.registered_runners() if r.runner_type != "instance_type"]
        return self._listing(request, runners, SCOPES)

    async def list_all(self, request: web.Request) -> web.Response:
        self._core.auth.authenticate(request, READ_RUNNERS).require_admin()
        return self._listing(request, self._core.ci.registered_runners(), ALL_SCOPES)

    async def list_group(self, request: web.Request) -> web.Response:
        principal = self._core.auth.authenticate(request, READ_RUNNERS)
        directory = self._core.directory
        group = directory.group(request.match_info["group_id"])
        if not principal.admin and directory.group_role(principal.user.username, group) < OWNER:
            raise forbidden()  # runner docs: group runners are listed by the group's Owners
        lineage = {g.id for g in directory.lineage(group)}
        runners = [
            r
            for r in self._core.ci.registered_runners()
            if r.runner_type == "instance_type" or r.group_id in lineage
        ]
        return self._listing(request, runners, SCOPES)

    async def list_project(self, request: web.Request) -> web.Response:
        principal = self._core.auth.authenticate(request, READ_RUNNERS)
        project = self._core.directory.project(request.match_info["project_id"])
        if (
            not principal.admin
            and self._core.directory.project_role(principal.user.username, project) < MAINTAINER
        ):
            raise forbidden()
        runners = [r for r in self._core.ci.registered_runners() if self._core.ci.covers(r, project)]
        return self._listing(request, runners, SCOPES)

    async def unregister(self, request: web.Request) -> web.Response:
        """`gitlab-runner unregister`: the runner deletes its own registration with its token."""
        params = await read_params(request)
        runner = self._core.ci.runner_by_token(str(params.get("token", "")))
        if runner is None:
            raise forbidden()
        self._core.ci.delete_runner(runner.id)
        return web.Response(status=204)

    def _listing(self, request: web.Request, runners: list[Runner], scopes: Iterable[str]) -> web.Response:
        selected = self._filter(request, runners, tuple(scopes))
        chunk, headers = paginate(request, sorted(selected, key=lambda r: r.id, reverse=True))
        return json_response([self._core.urls.runner(r) for r in chunk], headers=headers)

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
            current, _ = self._core.ci.status_of(runner)
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
