"""The request pipeline every ARM call goes through, in ARM's order: latency, authentication,
routing, api-version, injected faults, throttling, then the resource provider's handler.
Every call ends up in the bounded request log with its status."""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any

from aiohttp import web

from simulator.arm.api_versions import check_api_version
from simulator.arm.errors import ArmError, retry_after
from simulator.arm.faults import DEFAULT_MESSAGES, FaultRule
from simulator.arm.ids import ResourceId
from simulator.arm.routing import ArmCall, Route, Router, error_response
from simulator.arm.state import ArmState
from simulator.arm.throttle import RequestKind

DROPPED = 0  # logged status of a request whose connection the simulator closed without answering


class FrontDoor:
    def __init__(self, state: ArmState, router: Router) -> None:
        self._state = state
        self._router = router

    async def handle(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        entry: dict[str, Any] = {
            "time": time.time(),
            "method": request.method,
            "path": request.path,
            "query": request.query_string,
        }
        base_headers = {
            "x-ms-request-id": str(uuid.uuid4()),
            "x-ms-correlation-request-id": request.headers.get(
                "x-ms-correlation-request-id", str(uuid.uuid4())
            ),
            "Cache-Control": "no-cache",
        }
        try:
            response = await self._serve(request, entry)
            response.headers.update(base_headers)
        except ArmError as error:
            entry["error_code"] = error.code
            response = error_response(error, base_headers)
        entry["status"] = entry.get("status", response.status)
        entry["duration_ms"] = round((time.monotonic() - started) * 1000, 3)
        self._state.request_log.append(entry)
        return response

    async def _serve(self, request: web.Request, entry: dict[str, Any]) -> web.StreamResponse:
        state = self._state
        if not state.accepting:
            raise ArmError(503, "ServiceUnavailable", "The simulator has been stopped.")
        low, high = state.config.timing.latency_ms
        if high > 0:
            await state.clock.sleep(state.rng.uniform(low, high) / 1000)
        principal = _principal(request)
        entry["principal"] = principal
        route, params = self._router.resolve(request.method, request.path)
        if "api-version" not in request.query:
            raise ArmError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        call = ArmCall(request, params, principal, await request.read())
        self._check_api_version(route, call)
        fault = self._pick_fault(request.method, request.path)
        if fault is not None:
            entry["fault"] = fault.id
            return await self._inject(request, fault, entry)
        throttle_headers = self._admit(route, call)
        response = await route.handler(call)
        response.headers.update(throttle_headers)
        return response

    def _check_api_version(self, route: Route, call: ArmCall) -> None:
        served = self._state.config.api_versions
        if call.api_version in served.get(route.resource_type, ()):
            return
        try:
            location = self._region(route, call)
        except ArmError:  # a body ARM could not read: the version is refused first all the same
            location = self._state.locations[0] if self._state.locations else ""
        check_api_version(served, route.resource_type, call.api_version, location, self._state.locations)

    def _pick_fault(self, method: str, path: str) -> FaultRule | None:
        rules = self._state.config.faults
        for rule in list(rules):
            if rule.matches(method, path) and rule.take(self._state.rng):
                if rule.spent:
                    rules.remove(rule)
                return rule
        return None

    async def _inject(
        self, request: web.Request, fault: FaultRule, entry: dict[str, Any]
    ) -> web.StreamResponse:
        if fault.hold_s > 0:
            await self._state.clock.sleep(fault.hold_s)
        if fault.action == "timeout":
            if fault.close_connection:
                entry["status"] = DROPPED
                if request.transport is not None:
                    request.transport.close()
                return web.Response(status=504)
            raise ArmError(504, "GatewayTimeout", DEFAULT_MESSAGES["GatewayTimeout"])
        error = ArmError(fault.status, fault.code, fault.text())
        if fault.retry_after_s is not None:
            error.headers = retry_after(self._state.clock, fault.retry_after_s)
        raise error

    def _admit(self, route: Route, call: ArmCall) -> dict[str, str]:
        subscription = call.params.get("sub")
        if subscription is None:
            return {}
        kind = _request_kind(call.request.method)
        admission = self._state.throttle.admit(
            kind=kind,
            subscription=subscription,
            principal=call.principal,
            region=self._region(route, call),
            compute_group=route.compute_group,
        )
        if admission.error is not None:
            raise admission.error
        return admission.headers

    def _region(self, route: Route, call: ArmCall) -> str:
        state, p = self._state, call.params
        if "loc" in p:
            return p["loc"]
        if route.compute_group is not None and "rg" in p and "name" in p:
            record = state.vm_record(
                ResourceId.resource(p["sub"], p["rg"], "Microsoft.Compute", "virtualMachines", p["name"])
            )
            if record is not None:
                return record.location
            if call.request.method == "PUT":
                body = call.json()
                if isinstance(body, dict) and body.get("location"):
                    return str(body["location"])
        if "rg" in p:
            group = state.store.get(ResourceId(p["sub"], p["rg"]))
            if group is not None:
                return str(group.body.get("location", ""))
        return state.locations[0] if state.locations else ""


def _request_kind(method: str) -> RequestKind:
    if method in ("GET", "HEAD"):
        return "read"
    return "delete" if method == "DELETE" else "write"  # ARM counts POST actions as writes


def _principal(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise _unauthenticated("The 'Authorization' header is missing.")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthenticated("The 'Authorization' header is invalid; it must be 'Bearer <token>'.")
    # The token stands in for the caller's object ID; a digest keeps it out of logs and headers.
    return hashlib.sha256(token.strip().encode()).hexdigest()[:16]


def _unauthenticated(reason: str) -> ArmError:
    error = ArmError(401, "AuthenticationFailed", f"Authentication failed. {reason}")
    error.headers = {
        "WWW-Authenticate": (
            'Bearer authorization_uri="https://login.microsoftonline.com/common", '
            f'error="invalid_token", error_description="{reason}"'
        )
    }
    return error
