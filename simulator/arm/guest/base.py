"""What a simulated guest is given and what it must do.

A guest plays the runner a VM's cloud-init user data starts. It returns when the runner has
exited (the VM then powers off) and raises GuestError when the runner cannot start (the reason
goes to the VM's console and the VM keeps running, as a real VM whose start script failed would).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from simulator.arm.store import ResourceStore
from simulator.clock import SimClock


class GuestError(Exception):
    """The runner could not start; the message is what the console shows."""


@dataclass(frozen=True)
class ApiServer:
    fqdn: str
    port: int


@dataclass(frozen=True)
class RunnerFiles:
    """The two files cloud-init writes for the runner (see the boot contract)."""

    forge: str
    runner_name: str
    pool: str
    forge_url: str
    api_server: ApiServer | None
    secret: str
    runner_json: dict[str, Any] = field(default_factory=dict)


@dataclass
class GuestContext:
    vm_name: str
    vm_id: str
    subnet_ids: tuple[str, ...]
    private_ips: tuple[str, ...]
    clock: SimClock
    http: aiohttp.ClientSession
    store: ResourceStore  # the simulated network, for checks a guest makes from inside the VNet
    poll_s: float
    console: Callable[[str], None]
    report: Callable[..., None]  # record facts about the runner on the VM (runner_id=..., ...)


class Guest(Protocol):
    async def run(self, ctx: GuestContext, files: RunnerFiles) -> None: ...
