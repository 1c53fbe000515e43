"""Self-hosted runner REST routes, for organisations and repositories alike."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from simulator.github.auth import Principal
from simulator.github.context import SimContext
from simulator.github.directory import RunnerScope
from simulator.github.jitconfig import JitConfig, encode_jit_config
from simulator.github.pagination import numbered_page
from simulator.github.representations import runner_json
from simulator.github.wire import int_param, read_json_object
from simulator.http import json_response

ScopeOf = Callable[[web.Request, Principal], RunnerScope]
Handler = Callable[[web.Request], Awaitable[web.Response]]


class RunnerRoutes:
    def __init__(self, ctx: SimContext) -> None:
        self._ctx = ctx

    def routes(self) -> list[web.RouteDef]:
        routes: list[web.RouteDef] = []
        # Organisation runners need the App's organization_self_hosted_runners permission;
        # repository runners need administration.
        for prefix, scope_of, permission in (
            ("/orgs/{org}", self._ctx.org_scope, "organization_self_hosted_runners"),
            ("/repos/{owner}/{repo}", self._ctx.repo_scope, "administration"),
        ):
            base = f"{prefix}/actions/runners"
            routes += [
                web.post(f"{base}/generate-jitconfig", self._generate_jitconfig(scope_of, permission)),
                web.get(base, self._list(scope_of, permission)),
                web.get(f"{base}/{{runner_id}}", self._get(scope_of, permission)),
                web.delete(f"{base}/{{runner_id}}", self._delete(scope_of, permission)),
            ]
        return routes

    def _authorize(self, request: web.Request, scope_of: ScopeOf, permission: str, level: str) -> RunnerScope:
        principal = self._ctx.tokens.principal(request)
        scope = scope_of(request, principal)
        principal.require_permission(permission, level)
        return scope

    def _generate_jitconfig(self, scope_of: ScopeOf, permission: str) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            scope = self._authorize(request, scope_of, permission, "write")
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
            return json_response({"runner": runner_json(runner), "encoded_jit_config": encoded}, status=201)

        return handler

    def _list(self, scope_of: ScopeOf, permission: str) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            scope = self._authorize(request, scope_of, permission, "read")
            runners = self._ctx.actions.list_runners(scope, name=request.query.get("name"))
            page, headers = numbered_page(request, runners)
            body = {"total_count": len(runners), "runners": [runner_json(r) for r in page]}
            return json_response(body, headers=headers)

        return handler

    def _get(self, scope_of: ScopeOf, permission: str) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            scope = self._authorize(request, scope_of, permission, "read")
            runner = self._ctx.actions.get_runner(scope, int_param(request, "runner_id"))
            return json_response(runner_json(runner))

        return handler

    def _delete(self, scope_of: ScopeOf, permission: str) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            scope = self._authorize(request, scope_of, permission, "write")
            self._ctx.actions.delete_runner(scope, int_param(request, "runner_id"))
            return web.Response(status=204)

        return handler
