"""What a simulated guest is given and what it must do.

A guest plays the runner a VM's cloud-init user data starts. It returns when the runner has
exited (the VM then powers off) and raises GuestError when the runner cannot start (the reason
goes to the VM's console and the VM keeps running, as a real VM whose start script failed would).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from simulator.arm.store import ResourceStore
from simulator.clock import SimClock

MAX_POLL_FAILURES = 40


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
    # Between job requests of the GitLab runner (gitlab-runner's check interval).
    check_interval_s: float
    console: Callable[[str], None]
    report: Callable[..., None]  # record facts about the runner on the VM (runner_id=..., ...)
    # Runs a coroutine that outlives the VM (its tasks are cancelled when the VM goes away).
    detach: Callable[[Coroutine[Any, Any, None]], object]


class Guest(Protocol):
    async def run(self, ctx: GuestContext, files: RunnerFiles) -> None: ...


async def post_json(
    ctx: GuestContext, url: str, body: dict[str, Any], *, server: str, refused: str
) -> dict[str, Any]:
    """POST `body` to the forge at `server` and read its JSON answer; anything but 200 is fatal."""
    try:
        async with ctx.http.post(url, json=body) as resp:
            text = await resp.text()
            if resp.status != 200:
                raise GuestError(f"runner: {refused}: HTTP {resp.status} {text[:200]}")
            answer: dict[str, Any] = json.loads(text)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise GuestError(f"runner: cannot connect to {server}: {exc!r}") from None
    except json.JSONDecodeError:
        raise GuestError(f"runner: the answer of {url} is not JSON") from None
    return answer


class Contact:
    """A runner's polls of its forge: after MAX_POLL_FAILURES failures in a row it gives up."""

    def __init__(self, server: str) -> None:
        self._server = server
        self._failures = 0

    def kept(self) -> None:
        self._failures = 0

    def lost(self, exc: Exception) -> None:
        self._failures += 1
        if self._failures >= MAX_POLL_FAILURES:
            raise GuestError(f"runner: lost contact with {self._server}: {exc!r}") from None
