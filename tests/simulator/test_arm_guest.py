"""The simulated guest: after boot it reads cloud-init's runner files from customData and plays
the runner against the forge (here a stub of the GitHub simulator's two runner endpoints)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from azure.mgmt.compute import models as cm
from azure.mgmt.compute.aio import ComputeManagementClient

from simulator.arm import ArmSimulator
from simulator.arm.guest import GuestContext, RunnerFiles, register_guest, unregister_guest
from simulator.arm.samples import (
    b64,
    github_jit_config,
    runner_json,
    runner_user_data,
)
from simulator.arm.samples import (
    runner_vm_body as runner_vm_json,
)
from simulator.server import BackgroundLoop

RG = "rg-runners"


def runner_vm_body(name: str, **options: Any) -> cm.VirtualMachine:
    """The runner VM PUT as the SDK model the service sends (built from its wire JSON)."""
    return cm.VirtualMachine(runner_vm_json(name, **options))


Eventually = Callable[..., Awaitable[Any]]


@dataclass
class RunnerStub:
    """The GitHub simulator's runner protocol: connect once per JIT config, then report status."""

    script: list[str]
    token: str = "runner-secret-1"
    job_id: int = 7
    connects: list[str] = field(default_factory=list)
    polls: int = 0
    bad_auth: int = 0
    # The Authorization headers of each host-lost notice (the VM went away with the runner running).
    host_lost: list[str | None] = field(default_factory=list)
    url: str = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/_sim/runner/connect", self.connect)
        app.router.add_get("/_sim/runner/{runner_id}", self.status)
        app.router.add_post("/_sim/runner/{runner_id}/host-lost", self.lost)
        return app

    async def lost(self, request: web.Request) -> web.Response:
        self.host_lost.append(request.headers.get("Authorization"))
        return web.json_response({"status": "exited", "job_id": self.job_id})

    async def connect(self, request: web.Request) -> web.Response:
        jit = (await request.json())["jitconfig"]
        if jit in self.connects:
            return web.json_response({"message": "JIT config already used"}, status=409)
        self.connects.append(jit)
        return web.json_response({"runner_id": 42, "runner_name": "runner-1"})

    async def status(self, request: web.Request) -> web.Response:
        if (
            request.headers.get("Authorization") != f"Bearer {self.token}"
            or request.match_info["runner_id"] != "42"
        ):
            self.bad_auth += 1
            return web.json_response({"message": "Bad credentials"}, status=401)
        status = self.script[min(self.polls, len(self.script) - 1)]
        self.polls += 1
        return web.json_response({"status": status, "job_id": self.job_id if status != "idle" else None})


@pytest.fixture
def stub_loop() -> Iterator[BackgroundLoop]:
    loop = BackgroundLoop("runner-stub")
    yield loop
    loop.close()


@pytest.fixture
def runner_stub(stub_loop: BackgroundLoop) -> RunnerStub:
    stub = RunnerStub(script=["idle", "idle", "busy", "busy", "busy", "exited"])
    stub.url = stub_loop.serve(stub.app())
    return stub


def github_user_data(server_url: str, name: str = "runner-1", **runner: Any) -> str:
    return runner_user_data(
        runner_json(name, **runner), github_jit_config(server_url, token="runner-secret-1")
    )


async def create(compute: ComputeManagementClient, name: str, custom_data: str) -> None:
    body = runner_vm_body(name, custom_data=custom_data)
    await (await compute.virtual_machines.begin_create_or_update(RG, name, body)).result()


def vm_field(sim: ArmSimulator, name: str, key: str) -> Callable[[], Any]:
    def read() -> Any:
        vm = sim.vm(name)
        return None if vm is None else vm[key]

    return read


async def test_github_runner_connects_polls_until_exited_then_powers_off(
    sim: ArmSimulator, compute: ComputeManagementClient, runner_stub: RunnerStub, eventually: Eventually
) -> None:
    """The guest connects with the JIT config, polls until exited, and the VM powers off (stopped)."""
    await create(compute, "vm-gh-1", github_user_data(runner_stub.url))
    await eventually(lambda: vm_field(sim, "vm-gh-1", "power_state")() == "stopped")

    assert runner_stub.connects == [github_jit_config(runner_stub.url, token="runner-secret-1")]
    assert runner_stub.polls == 6
    assert runner_stub.bad_auth == 0
    assert runner_stub.host_lost == []  # it exited before the VM stopped: nothing was lost
    vm = await compute.virtual_machines.get(RG, "vm-gh-1", expand="instanceView")
    assert [s.code for s in vm.instance_view.statuses] == [
        "ProvisioningState/succeeded",
        "PowerState/stopped",
    ]
    snapshot = sim.vm("vm-gh-1")
    assert snapshot is not None
    assert snapshot["guest_state"] == "exited"
    assert snapshot["runner"]["runner_id"] == 42
    assert snapshot["booted_at"] <= snapshot["registered_at"] <= snapshot["powered_off_at"]
    console = "\n".join(sim.console("vm-gh-1"))
    assert "Connected to GitHub" in console
    assert "Running job: 7" in console
    assert "runner exited; powering off" in console


async def test_user_data_that_is_not_cloud_config_never_registers(
    sim: ArmSimulator, compute: ComputeManagementClient, runner_stub: RunnerStub, eventually: Eventually
) -> None:
    """User data that is not #cloud-config is explained on the console and nothing connects."""
    await create(compute, "vm-gh-2", b64("#!/bin/bash\necho hello\n"))
    await eventually(lambda: vm_field(sim, "vm-gh-2", "guest_state")() == "failed")
    assert "not #cloud-config" in "\n".join(sim.console("vm-gh-2"))
    assert runner_stub.connects == []
    assert vm_field(sim, "vm-gh-2", "power_state")() == "running"


async def test_missing_runner_secret_is_explained_on_the_console(
    sim: ArmSimulator, compute: ComputeManagementClient, runner_stub: RunnerStub, eventually: Eventually
) -> None:
    """A cloud-config without runner.secret never registers; the console names the missing file."""
    await create(compute, "vm-gh-3", runner_user_data(runner_json("runner-3"), None))
    await eventually(lambda: vm_field(sim, "vm-gh-3", "guest_state")() == "failed")
    assert "/etc/runner-fleet/runner.secret is missing" in "\n".join(sim.console("vm-gh-3"))
    assert runner_stub.connects == []


async def test_runcmd_must_start_the_runner(
    sim: ArmSimulator, compute: ComputeManagementClient, runner_stub: RunnerStub, eventually: Eventually
) -> None:
    """Without a runcmd starting start-runner.sh the runner never starts."""
    data = runner_user_data(
        runner_json("runner-4"), github_jit_config(runner_stub.url, token="t"), start_script=False
    )
    await create(compute, "vm-gh-4", data)
    await eventually(lambda: vm_field(sim, "vm-gh-4", "guest_state")() == "failed")
    assert "runcmd does not start" in "\n".join(sim.console("vm-gh-4"))
    assert runner_stub.connects == []


async def test_reused_jit_config_is_rejected_and_explained(
    sim: ArmSimulator, compute: ComputeManagementClient, runner_stub: RunnerStub, eventually: Eventually
) -> None:
    """A second VM with an already used JIT config gets 409 from connect and says so on its console."""
    data = github_user_data(runner_stub.url)
    await asyncio.gather(create(compute, "vm-gh-5", data), create(compute, "vm-gh-6", data))
    await eventually(lambda: {vm["guest_state"] for vm in sim.vms()} >= {"failed"})
    failed = [vm["name"] for vm in sim.vms() if vm["guest_state"] == "failed"]
    assert len(failed) == 1
    assert "registration rejected: HTTP 409" in "\n".join(sim.console(failed[0]))
    assert len(runner_stub.connects) == 1


async def test_unreachable_forge_is_explained(
    sim: ArmSimulator, compute: ComputeManagementClient, eventually: Eventually
) -> None:
    """When the serverUrl cannot be reached the console says the connect failed."""
    await create(compute, "vm-gh-7", github_user_data("http://127.0.0.1:9"))
    await eventually(lambda: vm_field(sim, "vm-gh-7", "guest_state")() == "failed")
    assert "cannot connect to http://127.0.0.1:9" in "\n".join(sim.console("vm-gh-7"))


async def test_deleting_the_vm_cancels_its_guest(
    sim: ArmSimulator, compute: ComputeManagementClient, runner_stub: RunnerStub, eventually: Eventually
) -> None:
    """Deleting a VM whose runner is busy stops the guest: no more status polls, and the forge
    simulator is told once that the runner's machine is gone."""
    runner_stub.script = ["busy"]
    await create(compute, "vm-gh-8", github_user_data(runner_stub.url))
    await eventually(lambda: runner_stub.polls >= 3)
    await (await compute.virtual_machines.begin_delete(RG, "vm-gh-8")).result()
    polls = runner_stub.polls
    # The guest's task was cancelled with the VM: it has no loop left to poll from.
    (gone,) = await eventually(lambda: [v for v in sim.deleted_vms() if v["guest_state"] == "terminated"])
    assert gone["name"] == "vm-gh-8"
    assert runner_stub.polls - polls <= 1  # at most the request already on the wire
    await eventually(lambda: runner_stub.host_lost)
    assert runner_stub.host_lost == ["Bearer runner-secret-1"]


async def test_vm_that_never_boots_is_succeeded_but_silent(
    sim: ArmSimulator, compute: ComputeManagementClient, runner_stub: RunnerStub, eventually: Eventually
) -> None:
    """A never-boot VM reaches Succeeded and running, but its guest never starts or registers."""
    sim.configure(never_boot={"count": 1})
    await create(compute, "vm-gh-9", github_user_data(runner_stub.url))
    await eventually(lambda: vm_field(sim, "vm-gh-9", "guest_state")() == "never-booted")
    vm = await compute.virtual_machines.get(RG, "vm-gh-9", expand="instanceView")
    assert [s.code for s in vm.instance_view.statuses] == [
        "ProvisioningState/succeeded",
        "PowerState/running",
    ]
    assert vm.instance_view.vm_agent.statuses[0].display_status == "Not Ready"
    assert "never came up" in "\n".join(sim.console("vm-gh-9"))
    assert runner_stub.connects == []

    await create(compute, "vm-gh-10", github_user_data(runner_stub.url, name="runner-10"))
    await eventually(lambda: vm_field(sim, "vm-gh-10", "power_state")() == "stopped")


async def test_api_server_check_is_logged(
    sim: ArmSimulator, compute: ComputeManagementClient, runner_stub: RunnerStub, eventually: Eventually
) -> None:
    """With an api_server in runner.json the guest checks it and logs that the check passed."""
    data = github_user_data(
        runner_stub.url,
        api_server={"fqdn": "aks-prod-7f3a9c2e.privatelink.westeurope.azmk8s.io", "port": 443},
    )
    await create(compute, "vm-gh-11", data)
    await eventually(lambda: vm_field(sim, "vm-gh-11", "power_state")() == "stopped")
    assert any(line.endswith("reachable at 10.10.0.4:443") for line in sim.console("vm-gh-11"))
    assert vm_field(sim, "vm-gh-11", "api_server_check")() == "passed"


async def test_guests_are_pluggable_by_forge(
    sim: ArmSimulator, compute: ComputeManagementClient, eventually: Eventually
) -> None:
    """A guest registered for a new forge is the one a VM with that forge in runner.json runs."""
    seen: list[RunnerFiles] = []

    class EchoGuest:
        async def run(self, ctx: GuestContext, files: RunnerFiles) -> None:
            seen.append(files)
            ctx.console(f"echo guest ran for {files.runner_name}")

    register_guest("echo-forge", EchoGuest())
    try:
        data = runner_user_data(runner_json("echo-1", forge="echo-forge"), "glrt-not-really")
        await create(compute, "vm-echo", data)
        await eventually(lambda: vm_field(sim, "vm-echo", "power_state")() == "stopped")
    finally:
        unregister_guest("echo-forge")
    assert [f.secret for f in seen] == ["glrt-not-really"]
    assert "echo guest ran for echo-1" in "\n".join(sim.console("vm-echo"))


async def test_unknown_forge_never_registers(
    sim: ArmSimulator, compute: ComputeManagementClient, eventually: Eventually
) -> None:
    """runner.json naming a forge without a guest is explained on the console."""
    await create(compute, "vm-nf", runner_user_data(runner_json("nf-1", forge="nowhere"), "secret"))
    await eventually(lambda: vm_field(sim, "vm-nf", "guest_state")() == "failed")
    assert "no runner for forge 'nowhere'" in "\n".join(sim.console("vm-nf"))
