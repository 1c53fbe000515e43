"""`ArmSimulator`: an HTTPS Azure Resource Manager the real azure-mgmt-* SDKs can be pointed at.

State lives on the BackgroundLoop; the methods below hop onto that loop and return plain JSON-able
copies, so they are safe to call from any other thread (tests, the demo, the service under test).
Processes that do not share its memory read and change the same under `/_sim/...` (no
authentication, no throttling); every other path goes through the front door.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from simulator.arm import routes_compute, routes_privatedns, routes_resources
from simulator.arm.config import ArmConfig, apply_patch
from simulator.arm.faults import FaultRule, LroFailureRule, rule_from_json
from simulator.arm.frontdoor import FrontDoor
from simulator.arm.routing import Router
from simulator.arm.state import ArmState
from simulator.arm.vm_model import VmRecord
from simulator.clock import SimClock
from simulator.server import BackgroundLoop
from simulator.tls import LoopbackTls, make_loopback_tls

T = TypeVar("T")
MAX_BODY_BYTES = 4 * 1024 * 1024


def build_router(state: ArmState) -> Router:
    router = Router()
    for provider in (routes_compute, routes_resources, routes_privatedns):
        provider.register(router, state)
    return router


class ArmSimulator:
    def __init__(
        self,
        loop: BackgroundLoop,
        *,
        clock: SimClock,
        config: ArmConfig | None = None,
        tls: LoopbackTls | None = None,
    ) -> None:
        self._loop = loop
        self._clock = clock
        self._tls = tls
        self._state = ArmState(config or ArmConfig(), clock)
        self._base_url: str | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> str:
        """Serve on 127.0.0.1 over HTTPS and return the base URL (what the SDK's `base_url` gets)."""
        if self._base_url is not None:
            return self._base_url
        if self._tls is None:
            self._tls = make_loopback_tls()
        self._loop.call(self._open_http_client())
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.add_routes(self._control_routes())
        app.router.add_route("*", "/{tail:.*}", FrontDoor(self._state, build_router(self._state)).handle)
        url = self._loop.serve(app, ssl_context=self._tls.server_context)
        self._base_url = url
        self._state.base_url = url
        return url

    def stop(self) -> None:
        """Cancel every VM task and refuse further ARM calls. The listening socket itself is
        released when the BackgroundLoop closes (it owns the servers it runs)."""
        if self._base_url is None:
            return
        self._loop.call(self._shutdown())

    async def _open_http_client(self) -> None:
        self._state.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

    async def _shutdown(self) -> None:
        self._state.accepting = False
        await self._state.tasks.close()
        if self._state.http is not None:
            await self._state.http.close()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the simulator has not been started")
        return self._base_url

    @property
    def ca_bundle(self) -> Path:
        """The CA certificate file clients pass as `connection_verify`."""
        if self._tls is None:
            raise RuntimeError("the simulator has not been started")
        return self._tls.ca_bundle

    @property
    def clock(self) -> SimClock:
        return self._clock

    # --- inspection --------------------------------------------------------------------------

    def vms(self) -> list[dict[str, Any]]:
        return self._on_loop(lambda s: [_vm_snapshot(s, r) for r in s.vms.values()])

    def deleted_vms(self) -> list[dict[str, Any]]:
        return self._on_loop(lambda s: [_vm_snapshot(s, r) for r in s.deleted_vms])

    def vm(self, name: str, resource_group: str | None = None) -> dict[str, Any] | None:
        """A live VM by name, else the last deleted one with that name."""

        def find(state: ArmState) -> dict[str, Any] | None:
            record = state.find_vm(name, resource_group)
            return None if record is None else _vm_snapshot(state, record)

        return self._on_loop(find)

    def console(self, vm_name: str, resource_group: str | None = None) -> list[str]:
        return self._console_or_none(vm_name, resource_group) or []

    def _console_or_none(self, name: str, resource_group: str | None) -> list[str] | None:
        """A VM's console (consoles outlive their VMs), None for a VM that never was."""

        def lines(state: ArmState) -> list[str] | None:
            record = state.find_vm(name, resource_group)
            return None if record is None else list(record.console)

        return self._on_loop(lines)

    def request_log(self, limit: int | None = None) -> list[dict[str, Any]]:
        def entries(state: ArmState) -> list[dict[str, Any]]:
            logged = list(state.request_log)
            return [dict(e) for e in (logged if limit is None else logged[-limit:])]

        return self._on_loop(entries)

    def resources(self, type_name: str | None = None) -> list[dict[str, Any]]:
        """Raw stored resources (`{"id", "type", "body"}`), optionally of one type
        (e.g. `"Microsoft.Network/networkInterfaces"`)."""

        def stored(state: ArmState) -> list[dict[str, Any]]:
            wanted = [r for r in state.store if type_name is None or r.type.lower() == type_name.lower()]
            return [{"id": str(r.id), "type": r.type, "body": copy.deepcopy(r.body)} for r in wanted]

        return self._on_loop(stored)

    def faults(self) -> list[dict[str, Any]]:
        return self._on_loop(
            lambda s: [r.describe() for r in s.config.faults] + [r.describe() for r in s.config.lro_failures]
        )

    def config_summary(self) -> dict[str, Any]:
        def summary(state: ArmState) -> dict[str, Any]:
            config = state.config
            return {
                "timing": asdict(config.timing),
                "page_size": config.page_size,
                "never_boot": asdict(config.never_boot),
                "throttling": asdict(config.throttle),
                "sizes": [s.name for s in config.sizes],
                "locations": list(config.topology.locations),
                "require_rg_location": config.require_rg_location,
                "api_versions": {kind: list(versions) for kind, versions in config.api_versions.items()},
                "faults": self.faults(),
            }

        return self._on_loop(summary)

    # --- control -----------------------------------------------------------------------------

    def configure(self, **changes: Any) -> None:
        """Change the models at run time; same keys as `POST /_sim/config` (e.g. `provisioning_s=5`,
        `latency_ms=(10, 50)`, `never_boot={"count": 1}`, `throttling={"enabled": False}`).
        Any throttling change starts every bucket full again."""

        def apply(state: ArmState) -> None:
            throttle_before = state.config.throttle
            apply_patch(state.config, changes)
            if state.config.throttle is not throttle_before:
                state.throttle.reset()

        self._on_loop(apply)

    def add_fault(self, rule: FaultRule | LroFailureRule) -> str:
        def add(state: ArmState) -> None:
            rules: list[Any] = (
                state.config.lro_failures if isinstance(rule, LroFailureRule) else state.config.faults
            )
            rules.append(rule)

        self._on_loop(add)
        return rule.id

    def clear_faults(self, fault_id: str | None = None) -> int:
        """Remove one rule, or every rule; returns how many went."""

        def clear(state: ArmState) -> int:
            config = state.config
            before = len(config.faults) + len(config.lro_failures)
            config.faults[:] = [r for r in config.faults if fault_id is not None and r.id != fault_id]
            config.lro_failures[:] = [
                r for r in config.lro_failures if fault_id is not None and r.id != fault_id
            ]
            return before - len(config.faults) - len(config.lro_failures)

        return self._on_loop(clear)

    def _on_loop(self, read: Callable[[ArmState], T]) -> T:
        return self._loop.run(lambda: read(self._state))

    # --- the same over HTTP ------------------------------------------------------------------

    def _control_routes(self) -> list[web.RouteDef]:
        """The methods above as JSON routes: a VM that never was is 404, a bad body or setting 400."""

        def vm(request: web.Request) -> tuple[str, str | None]:
            return request.match_info["name"], request.query.get("resourceGroup")

        def console(request: web.Request, _: Any) -> dict[str, Any] | None:
            lines = self._console_or_none(*vm(request))
            return None if lines is None else {"name": vm(request)[0], "lines": lines}

        def configure(_: web.Request, patch: Any) -> dict[str, Any]:
            self.configure(**_json_object(patch, "the configuration patch"))
            return self.config_summary()

        def add_fault(_: web.Request, data: Any) -> dict[str, Any]:
            rule = rule_from_json(_json_object(data, "a fault rule"))
            self.add_fault(rule)
            return rule.describe()

        def listed(request: web.Request, _: Any) -> dict[str, Any]:
            deleted = request.query.get("deleted", "").lower() == "true"
            return {"value": self.deleted_vms() if deleted else self.vms()}

        def requests(request: web.Request, _: Any) -> dict[str, Any]:
            limit = request.query.get("limit")
            return {"value": self.request_log(int(limit) if limit else None)}

        async def serial_log(request: web.Request) -> web.Response:
            lines = self._console_or_none(*vm(request))
            if lines is None:
                return web.Response(status=404, text="BlobNotFound")
            return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

        async def screenshot(request: web.Request) -> web.Response:
            return web.Response(status=404, text="BlobNotFound")

        return [
            web.get("/_sim/vms", _answer(listed)),
            web.get("/_sim/vms/{name}", _answer(lambda r, _: self.vm(*vm(r)))),
            web.get("/_sim/vms/{name}/console", _answer(console)),
            web.get("/_sim/vms/{name}/serialconsole.log", serial_log),
            web.get("/_sim/vms/{name}/screenshot.bmp", screenshot),
            web.get("/_sim/requests", _answer(requests)),
            web.get("/_sim/config", _answer(lambda r, _: self.config_summary())),
            web.post("/_sim/config", _answer(configure)),
            web.get("/_sim/faults", _answer(lambda r, _: {"value": self.faults()})),
            web.post("/_sim/faults", _answer(add_fault, status=201)),
            web.delete("/_sim/faults", _answer(lambda r, _: {"removed": self.clear_faults()})),
            web.delete(
                "/_sim/faults/{fault_id}",
                _answer(lambda r, _: {"removed": self.clear_faults(r.match_info["fault_id"])}),
            ),
            web.get("/_sim/resources", _answer(lambda r, _: {"value": self.resources(r.query.get("type"))})),
        ]


def _answer(
    answer: Callable[[web.Request, Any], Any], *, status: int = 200
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A control route: `answer` gets the request and its JSON body (POST) and gives the JSON answer;
    None is a VM that never was (404), ValueError, TypeError and KeyError a bad request (400)."""

    async def handler(request: web.Request) -> web.Response:
        try:
            found = answer(request, await request.json() if request.method == "POST" else None)
        except (ValueError, TypeError, KeyError) as exc:  # unreadable JSON is a ValueError too
            return _control_error(400, "BadRequest", str(exc))
        if found is None:
            return _control_error(404, "NotFound", f"No VM named {request.match_info.get('name')!r}.")
        return web.json_response(found, status=status)

    return handler


def _control_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _json_object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a JSON object")
    return value


def _vm_snapshot(state: ArmState, record: VmRecord) -> dict[str, Any]:
    resource = state.store.get(record.id)
    return record.snapshot(resource.body.get("tags") if resource is not None else None)
