"""`/_sim/...`: inspection and control over HTTP, for processes that do not share the simulator's
memory (the demo, a service under test started separately). No authentication, no throttling."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from simulator.arm import inspect_api
from simulator.arm.config import apply_patch
from simulator.arm.faults import FaultRule, LroFailureRule, rule_from_json
from simulator.arm.state import ArmState


def add_fault(state: ArmState, rule: FaultRule | LroFailureRule) -> None:
    if isinstance(rule, LroFailureRule):
        state.config.lro_failures.append(rule)
    else:
        state.config.faults.append(rule)


def clear_faults(state: ArmState, fault_id: str | None = None) -> int:
    before = len(state.config.faults) + len(state.config.lro_failures)
    state.config.faults[:] = [r for r in state.config.faults if fault_id is not None and r.id != fault_id]
    state.config.lro_failures[:] = [
        r for r in state.config.lro_failures if fault_id is not None and r.id != fault_id
    ]
    return before - len(state.config.faults) - len(state.config.lro_failures)


def configure(state: ArmState, patch: dict[str, Any]) -> None:
    throttle_before = state.config.throttle
    apply_patch(state.config, patch)
    if state.config.throttle is not throttle_before:
        state.throttle.reset()


def register(app: web.Application, state: ArmState) -> None:
    routes = web.RouteTableDef()

    def bad_request(message: str) -> web.Response:
        return web.json_response({"error": {"code": "BadRequest", "message": message}}, status=400)

    def not_found(name: str) -> web.Response:
        return web.json_response(
            {"error": {"code": "NotFound", "message": f"No VM named {name!r}."}}, status=404
        )

    async def body(request: web.Request) -> Any:
        try:
            return await request.json()
        except json.JSONDecodeError as exc:
            raise web.HTTPBadRequest(text=f"invalid JSON: {exc}") from None

    @routes.get("/_sim/vms")
    async def list_vms(request: web.Request) -> web.Response:
        deleted = request.query.get("deleted", "").lower() == "true"
        return web.json_response({"value": inspect_api.vm_snapshots(state, deleted=deleted)})

    @routes.get("/_sim/vms/{name}")
    async def get_vm(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        found = inspect_api.find_vm_snapshot(state, name, request.query.get("resourceGroup"))
        return web.json_response(found) if found is not None else not_found(name)

    @routes.get("/_sim/vms/{name}/console")
    async def console(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        lines = inspect_api.console_lines(state, name, request.query.get("resourceGroup"))
        return web.json_response({"name": name, "lines": lines}) if lines is not None else not_found(name)

    @routes.get("/_sim/vms/{name}/serialconsole.log")
    async def serial_log(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        lines = inspect_api.console_lines(state, name, request.query.get("resourceGroup"))
        if lines is None:
            return web.Response(status=404, text="BlobNotFound")
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    @routes.get("/_sim/vms/{name}/screenshot.bmp")
    async def screenshot(request: web.Request) -> web.Response:
        return web.Response(status=404, text="BlobNotFound")

    @routes.get("/_sim/requests")
    async def requests(request: web.Request) -> web.Response:
        limit = request.query.get("limit")
        return web.json_response({"value": inspect_api.request_log(state, int(limit) if limit else None)})

    @routes.get("/_sim/config")
    async def get_config(request: web.Request) -> web.Response:
        return web.json_response(inspect_api.config_summary(state))

    @routes.post("/_sim/config")
    async def post_config(request: web.Request) -> web.Response:
        patch = await body(request)
        if not isinstance(patch, dict):
            return bad_request("the configuration patch must be a JSON object")
        try:
            configure(state, patch)
        except (ValueError, TypeError, KeyError) as exc:
            return bad_request(str(exc))
        return web.json_response(inspect_api.config_summary(state))

    @routes.get("/_sim/faults")
    async def get_faults(request: web.Request) -> web.Response:
        return web.json_response({"value": inspect_api.faults(state)})

    @routes.post("/_sim/faults")
    async def post_fault(request: web.Request) -> web.Response:
        data = await body(request)
        if not isinstance(data, dict):
            return bad_request("a fault rule must be a JSON object")
        try:
            rule = rule_from_json(data)
        except (ValueError, TypeError) as exc:
            return bad_request(str(exc))
        add_fault(state, rule)
        return web.json_response(rule.describe(), status=201)

    @routes.delete("/_sim/faults")
    async def delete_faults(request: web.Request) -> web.Response:
        return web.json_response({"removed": clear_faults(state)})

    @routes.delete("/_sim/faults/{fault_id}")
    async def delete_fault(request: web.Request) -> web.Response:
        return web.json_response({"removed": clear_faults(state, request.match_info["fault_id"])})

    @routes.get("/_sim/resources")
    async def list_resources(request: web.Request) -> web.Response:
        return web.json_response({"value": inspect_api.resources(state, request.query.get("type"))})

    app.add_routes(routes)
