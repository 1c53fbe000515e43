"""`ArmSimulator`: an HTTPS Azure Resource Manager the real azure-mgmt-* SDKs can be pointed at.

State lives on the BackgroundLoop; the in-process methods below hop onto that loop and return
copies, so they are safe to call from any other thread (tests, the demo, the service under test).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from simulator.arm import control, inspect_api
from simulator.arm.app import build_app
from simulator.arm.config import ArmConfig
from simulator.arm.faults import FaultRule, LroFailureRule
from simulator.arm.state import ArmState
from simulator.clock import SimClock
from simulator.server import BackgroundLoop
from simulator.tls import LoopbackTls, make_loopback_tls

T = TypeVar("T")


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
        url = self._loop.serve(build_app(self._state), ssl_context=self._tls.server_context)
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
        tasks = list(self._state.tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
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
        return self._on_loop(inspect_api.vm_snapshots)

    def deleted_vms(self) -> list[dict[str, Any]]:
        return self._on_loop(lambda s: inspect_api.vm_snapshots(s, deleted=True))

    def vm(self, name: str, resource_group: str | None = None) -> dict[str, Any] | None:
        """A live VM by name, else the last deleted one with that name."""
        return self._on_loop(lambda s: inspect_api.find_vm_snapshot(s, name, resource_group))

    def console(self, vm_name: str, resource_group: str | None = None) -> list[str]:
        return self._on_loop(lambda s: inspect_api.console_lines(s, vm_name, resource_group) or [])

    def request_log(self, limit: int | None = None) -> list[dict[str, Any]]:
        return self._on_loop(lambda s: inspect_api.request_log(s, limit))

    def resources(self, type_name: str | None = None) -> list[dict[str, Any]]:
        """Raw stored resources (`{"id", "type", "body"}`), optionally of one type
        (e.g. `"Microsoft.Network/networkInterfaces"`)."""
        return self._on_loop(lambda s: inspect_api.resources(s, type_name))

    def config_summary(self) -> dict[str, Any]:
        return self._on_loop(inspect_api.config_summary)

    # --- control -----------------------------------------------------------------------------

    def configure(self, **changes: Any) -> None:
        """Change the models at run time; same keys as `POST /_sim/config` (e.g. `provisioning_s=5`,
        `latency_ms=(10, 50)`, `never_boot={"count": 1}`, `throttling={"enabled": False}`).
        Any throttling change starts every bucket full again."""
        self._on_loop(lambda s: control.configure(s, changes))

    def add_fault(self, rule: FaultRule | LroFailureRule) -> str:
        self._on_loop(lambda s: control.add_fault(s, rule))
        return rule.id

    def clear_faults(self, fault_id: str | None = None) -> int:
        return self._on_loop(lambda s: control.clear_faults(s, fault_id))

    def _on_loop(self, read: Callable[[ArmState], T]) -> T:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop.loop:  # already on the simulator's thread: blocking would deadlock
            return read(self._state)

        async def hop() -> T:
            return read(self._state)

        return self._loop.call(hop())
