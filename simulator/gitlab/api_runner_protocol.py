"""Simulator-private endpoints a simulated runner VM calls in place of the real runner's
job-request long poll: connect with the `glrt-` token, ask for a job, watch its own status."""

from __future__ import annotations

from aiohttp import web

from simulator.gitlab.auth import bearer
from simulator.gitlab.core import GitLabCore
from simulator.gitlab.errors import forbidden
from simulator.gitlab.wire import int_param, read_params
from simulator.http import json_response


class RunnerProtocolRoutes:
    def __init__(self, core: GitLabCore) -> None:
        self._core = core

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/_sim/runner/connect", self.connect),
            web.post("/_sim/runner/{runner_id}/request_job", self.request_job),
            web.get("/_sim/runner/{runner_id}", self.status),
        ]

    async def connect(self, request: web.Request) -> web.Response:
        params = await read_params(request)
        token, name = params.get("token"), params.get("name")
        if not isinstance(token, str) or not token:
            raise forbidden()
        runner = self._core.ci.connect(token, name if isinstance(name, str) else None)
        return json_response({"runner_id": runner.id})

    async def request_job(self, request: web.Request) -> web.Response:
        token = bearer(request)
        if token is None:
            raise forbidden()
        job = self._core.ci.request_job(int_param(request, "runner_id", "Runner"), token)
        if job is None:
            return web.Response(status=204)
        return json_response({"job_id": job.id})

    async def status(self, request: web.Request) -> web.Response:
        runner = self._core.ci.session(int_param(request, "runner_id", "Runner"), bearer(request))
        return json_response({"status": runner.guest_status(), "job_id": runner.last_job_id})
