"""Control routes for tests and tools in other processes; the in-process methods do the same."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aiohttp import web

from simulator.github.core import GitHubCore
from simulator.github.errors import ApiError
from simulator.github.wire import int_param, read_json_object
from simulator.http import json_response


def _required_string(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise ApiError(422, f"'{key}' must be a non-empty string")
    return value


def _optional_string(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(422, f"'{key}' must be a string")
    return value


class ControlRoutes:
    def __init__(self, core: GitHubCore) -> None:
        self._port = core

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/_sim/hooks", self.add_hook),
            web.post("/_sim/jobs", self.queue_job),
            web.get("/_sim/jobs", self.list_jobs),
            web.post("/_sim/jobs/{job_id}/cancel", self.cancel_job),
            web.post("/_sim/jobs/{job_id}/approve", self.approve_job),
            web.get("/_sim/runners", self.list_runners),
            web.get("/_sim/deliveries", self.list_deliveries),
            web.get("/_sim/stats", self.stats),
            web.get("/_sim/requests", self.requests),
            web.get("/_sim/rate-limits", self.rate_limits),
            web.get("/_sim/faults", self.get_faults),
            web.post("/_sim/faults", self.set_faults),
            web.post("/_sim/ping", self.ping),
        ]

    async def add_hook(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        url = _required_string(body, "url")
        secret = body.get("secret", "")
        events = body.get("events", ["workflow_job"])
        if (
            not isinstance(secret, str)
            or not isinstance(events, list)
            or not all(isinstance(e, str) for e in events)
        ):
            raise ApiError(422, "'secret' must be a string and 'events' a list of strings")
        hook_id = self._port.add_webhook(url, secret, tuple(events))
        return json_response({"id": hook_id, "url": url, "events": events}, status=201)

    async def queue_job(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        labels = body.get("labels")
        if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
            raise ApiError(422, "'labels' must be a list of strings")
        duration = body.get("duration_s")
        if duration is not None and not isinstance(duration, int | float):
            raise ApiError(422, "'duration_s' must be a number")
        job = self._port.queue_job(
            _required_string(body, "owner"),
            _required_string(body, "repo"),
            labels,
            duration_s=duration,
            name=_optional_string(body, "name") or "build",
            workflow_name=_optional_string(body, "workflow_name") or "CI",
            waiting=bool(body.get("waiting", False)),
            hosted_runner_name=_optional_string(body, "hosted_runner_name"),
            event=_optional_string(body, "event") or "push",
            head_repository=_optional_string(body, "head_repository"),
            head_branch=_optional_string(body, "head_branch"),
            workflow_path=_optional_string(body, "workflow_path") or ".github/workflows/ci.yml",
        )
        return json_response(job, status=201)

    async def list_jobs(self, request: web.Request) -> web.Response:
        return json_response(self._port.jobs())

    async def cancel_job(self, request: web.Request) -> web.Response:
        return json_response(self._port.cancel_job(int_param(request, "job_id")))

    async def approve_job(self, request: web.Request) -> web.Response:
        return json_response(self._port.approve_job(int_param(request, "job_id")))

    async def list_runners(self, request: web.Request) -> web.Response:
        return json_response(self._port.runners())

    async def list_deliveries(self, request: web.Request) -> web.Response:
        return json_response(self._port.deliveries())

    async def stats(self, request: web.Request) -> web.Response:
        return json_response(self._port.stats_snapshot())

    async def requests(self, request: web.Request) -> web.Response:
        return json_response(self._port.request_counts())

    async def rate_limits(self, request: web.Request) -> web.Response:
        return json_response(self._port.rate_limits())

    async def get_faults(self, request: web.Request) -> web.Response:
        return json_response(asdict(self._port.faults()))

    async def set_faults(self, request: web.Request) -> web.Response:
        body = await read_json_object(request)
        try:
            faults = self._port.faults().updated(body)
        except ValueError as exc:
            raise ApiError(422, str(exc)) from exc
        self._port.set_faults(faults)
        return json_response(asdict(faults))

    async def ping(self, request: web.Request) -> web.Response:
        self._port.send_ping()
        return json_response({}, status=202)
