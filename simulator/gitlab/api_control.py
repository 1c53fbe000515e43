"""Control routes for tests and tools in other processes; the in-process methods do the same."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aiohttp import web

from simulator.gitlab.core import GitLabCore, ScopeSpec
from simulator.gitlab.errors import ApiError
from simulator.gitlab.wire import int_param, read_params
from simulator.http import json_response


def _invalid(message: str) -> ApiError:
    return ApiError(422, message)


def _required_string(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise _invalid(f"'{key}' must be a non-empty string")
    return value


def _optional_string(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(f"'{key}' must be a string")
    return value


def _strings(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _invalid(f"'{key}' must be a list of strings")
    return value


def _scope(value: Any) -> ScopeSpec:
    """`{"type": "group", "id": 100}` or `["group", 100]`; the id may be a path."""
    if isinstance(value, dict):
        value = [value.get("type"), value.get("id")]
    if (
        isinstance(value, list)
        and len(value) == 2
        and value[0] in ("project", "group")
        and isinstance(value[1], int | str)
        and not isinstance(value[1], bool)
    ):
        return str(value[0]), value[1]
    raise _invalid('\'scope\' must be {"type": "project"|"group", "id": <id or path>}')


class ControlRoutes:
    def __init__(self, core: GitLabCore) -> None:
        self._core = core

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/_sim/hooks", self.add_hook),
            web.get("/_sim/hooks", self.list_hooks),
            web.post("/_sim/hooks/{hook_id}/enable", self.enable_hook),
            web.delete("/_sim/hooks/{hook_id}", self.remove_hook),
            web.post("/_sim/jobs", self.create_job),
            web.get("/_sim/jobs", self.list_jobs),
            web.post("/_sim/jobs/{job_id}/cancel", self.cancel_job),
            web.get("/_sim/runners", self.list_runners),
            web.get("/_sim/deliveries", self.list_deliveries),
            web.post("/_sim/deliveries/{delivery_id}/redeliver", self.redeliver),
            web.get("/_sim/stats", self.stats),
            web.get("/_sim/faults", self.get_faults),
            web.post("/_sim/faults", self.set_faults),
        ]

    async def add_hook(self, request: web.Request) -> web.Response:
        body = await read_params(request)
        url = _required_string(body, "url")
        token = body.get("token", "")
        if not isinstance(token, str):
            raise _invalid("'token' must be a string")
        hook_id = self._core.add_webhook(
            url,
            token,
            signing_token=_optional_string(body, "signing_token"),
            scope=_scope(body.get("scope")),
        )
        created = next(h for h in self._core.hooks() if h["id"] == hook_id)
        return json_response(created, status=201)

    async def list_hooks(self, request: web.Request) -> web.Response:
        return json_response(self._core.hooks())

    async def enable_hook(self, request: web.Request) -> web.Response:
        return json_response(self._core.enable_hook(int_param(request, "hook_id", "Hook")))

    async def remove_hook(self, request: web.Request) -> web.Response:
        self._core.remove_hook(int_param(request, "hook_id", "Hook"))
        return web.Response(status=204)

    async def create_job(self, request: web.Request) -> web.Response:
        body = await read_params(request)
        project = body.get("project_id")
        if not isinstance(project, int | str) or isinstance(project, bool):
            raise _invalid("'project_id' must be a project id or path")
        tags = body.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
            raise _invalid("'tags' must be a list of strings")
        duration = body.get("duration_s")
        if duration is not None and (not isinstance(duration, int | float) or isinstance(duration, bool)):
            raise _invalid("'duration_s' must be a number")
        source = body.get("source_pipeline", False)
        if not isinstance(source, bool | dict):
            raise _invalid("'source_pipeline' must be a boolean or an object")
        job = self._core.create_job(
            project,
            tags,
            duration_s=duration,
            name=_optional_string(body, "name") or "deploy",
            stage=_optional_string(body, "stage") or "deploy",
            fail=bool(body.get("fail", False)),
            environment=_optional_string(body, "environment"),
            source_pipeline=source,
            ref=_optional_string(body, "ref"),
            script=_strings(body, "script"),
        )
        return json_response(job, status=201)

    async def list_jobs(self, request: web.Request) -> web.Response:
        return json_response(self._core.jobs())

    async def cancel_job(self, request: web.Request) -> web.Response:
        return json_response(self._core.cancel_job(int_param(request, "job_id", "Job")))

    async def list_runners(self, request: web.Request) -> web.Response:
        return json_response(self._core.runners())

    async def list_deliveries(self, request: web.Request) -> web.Response:
        return json_response(self._core.deliveries())

    async def redeliver(self, request: web.Request) -> web.Response:
        self._core.redeliver(int_param(request, "delivery_id", "Delivery"))
        return json_response({}, status=202)

    async def stats(self, request: web.Request) -> web.Response:
        return json_response(self._core.stats_snapshot())

    async def get_faults(self, request: web.Request) -> web.Response:
        return json_response(asdict(self._core.faults()))

    async def set_faults(self, request: web.Request) -> web.Response:
        body = await read_params(request)
        try:
            faults = self._core.faults().updated(body)
        except ValueError as exc:
            raise _invalid(str(exc)) from exc
        self._core.set_faults(faults)
        return json_response(asdict(faults))
