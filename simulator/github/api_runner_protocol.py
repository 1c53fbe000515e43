"""Simulator-private endpoints a simulated runner VM calls: connect with its JIT config, then poll.

They stand in for the real runner's long-poll against the Actions service, which the simulated
guest does not need to reproduce.
"""

from __future__ import annotations

from aiohttp import web

from simulator.github.auth import bearer
from simulator.github.context import SimContext
from simulator.github.errors import ApiError
from simulator.github.jitconfig import InvalidJitConfig, decode_jit_config
from simulator.github.wire import int_param, read_json_object
from simulator.http import json_response


class RunnerProtocolRoutes:
    def __init__(self, ctx: SimContext) -> None:
        self._ctx = ctx

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/_sim/runner/connect", self.connect),
            web.get("/_sim/runner/{runner_id}", self.status),
        ]

    async def connect(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        encoded = body.get("jitconfig")
        if not isinstance(encoded, str):
            raise ApiError(401, "A JIT configuration is required.")
        try:
            config = decode_jit_config(encoded)
        except InvalidJitConfig as exc:
            raise ApiError(401, "The JIT configuration is not valid.") from exc
        runner = self._ctx.actions.connect(config.agent_id, config.token)
        return json_response({"runner_id": runner.id, "runner_name": runner.name})

    async def status(self, request: web.Request) -> web.Response:
        secret = bearer(request)
        if secret is None:
            raise ApiError(401, "Bad credentials")
        runner = self._ctx.actions.guest_view(int_param(request, "runner_id"), secret)
        return json_response({"status": runner.guest_status(), "job_id": runner.last_job_id})
