"""Self-hosted runner REST routes, for organisations and repositories alike, and the simulator-private
endpoints a simulated runner VM calls: connect with its JIT config, then poll.

The latter stand in for the real runner's long-poll against the Actions service, which the simulated
guest does not need to reproduce.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from simulator.forge import Routes
from simulator.github.auth import bearer
from simulator.github.context import SimContext
from simulator.github.directory import RunnerScope
from simulator.github.errors import ApiError, int_param, read_json_object
from simulator.github.jitconfig import InvalidJitConfig, JitConfig, decode_jit_config, encode_jit_config
from simulator.github.representations import runner_json
from simulator.http import json_response
from simulator.pagination import numbered_page

ScopeOf = Callable[[web.Request, str], RunnerScope]  # the scope, for a credential with that level
Handler = Callable[[web.Request], Awaitable[web.Response]]


class RunnerRoutes(Routes[SimContext]):
    def routes(self) -> list[web.RouteDef]:
        routes: list[web.RouteDef] = []
        for prefix, scope_of in (
            ("/orgs/{org}", self._org_scope),
            ("/repos/{owner}/{repo}", self._repo_scope),
        ):
            base = f"{prefix}/actions/runners"
            routes += [
                web.post(f"{base}/generate-jitconfig", self._generate_jitconfig(scope_of)),
                web.get(base, self._list(scope_of)),
                web.get(f"{base}/{{runner_id}}", self._get(scope_of)),
                web.delete(f"{base}/{{runner_id}}", self._delete(scope_of)),
            ]
        return routes

    # Organisation runners need the App's organization_self_hosted_runners permission;
    # repository runners need administration.
    def _org_scope(self, request: web.Request, level: str) -> RunnerScope:
        return RunnerScope(self._ctx.org(request, "organization_self_hosted_runners", level).login)

    def _repo_scope(self, request: web.Request, level: str) -> RunnerScope:
        repo = self._ctx.repo(request, "administration", level)
        return RunnerScope(repo.owner, repo.name)

    def _generate_jitconfig(self, scope_of: ScopeOf) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            scope = scope_of(request, "write")
            body = await read_json_object(request)
            runner = self._ctx.actions.register_runner(
                scope,
                name=body.get("name"),
                labels=body.get("labels"),
                runner_group_id=body.get("runner_group_id"),
                work_folder=body.get("work_folder", "_work"),
            )
            encoded = encode_jit_config(
                JitConfig(
                    agent_id=runner.id,
                    agent_name=runner.name,
                    pool_id=runner.runner_group_id,
                    server_url=self._ctx.base_url,
                    github_url=f"{self._ctx.base_url}/{scope.path}",
                    work_folder=runner.work_folder,
                    token=runner.secret,
                )
            )
            return json_response(
                {"runner": runner_json(runner, self._ctx.clock.now()), "encoded_jit_config": encoded},
                status=201,
            )

        return handler

    def _list(self, scope_of: ScopeOf) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            scope = scope_of(request, "read")
            runners = self._ctx.actions.list_runners(scope, name=request.query.get("name"))
            page, headers = numbered_page(request, runners)
            now = self._ctx.clock.now()
            body = {"total_count": len(runners), "runners": [runner_json(r, now) for r in page]}
            return json_response(body, headers=headers)

        return handler

    def _get(self, scope_of: ScopeOf) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            scope = scope_of(request, "read")
            runner = self._ctx.actions.get_runner(scope, int_param(request, "runner_id"))
            return json_response(runner_json(runner, self._ctx.clock.now()))

        return handler

    def _delete(self, scope_of: ScopeOf) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            scope = scope_of(request, "write")
            self._ctx.actions.delete_runner(scope, int_param(request, "runner_id"))
            return web.Response(status=204)

        return handler


class RunnerProtocolRoutes(Routes[SimContext]):
    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/_sim/runner/connect", self.connect),
            web.get("/_sim/runner/{runner_id}", self.status),
            web.post("/_sim/runner/{runner_id}/host-lost", self.host_lost),
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

    async def host_lost(self, request: web.Request) -> web.Response:
        """Not a call any runner makes: the simulated VM says that its machine went away, which
        GitHub learns only from the listener's poll and the job's lock renewals stopping."""
        secret = bearer(request)
        if secret is None:
            raise ApiError(401, "Bad credentials")
        runner = self._ctx.actions.host_lost(int_param(request, "runner_id"), secret)
        return json_response({"status": runner.guest_status(), "job_id": runner.job_id})

    async def status(self, request: web.Request) -> web.Response:
        secret = bearer(request)
        if secret is None:
            raise ApiError(401, "Bad credentials")
        runner = self._ctx.actions.guest_view(int_param(request, "runner_id"), secret)
        return json_response({"status": runner.guest_status(), "job_id": runner.last_job_id})
