"""The in-VM check: a booted runner VM resolves the API server FQDN as its VNet does (linked private
zones, custom DNS), needs a private address that answers (peering, NSG), says why on the serial
console when not, and then never registers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from azure.mgmt.compute import models as cm
from azure.mgmt.compute.aio import ComputeManagementClient

from runner_fleet.adapters.azure.credentials import StaticTokenCredential
from simulator.arm import ArmSimulator
from simulator.arm.samples import github_jit_config, runner_json, runner_user_data, runner_vm_body
from simulator.arm.topology import AKS_FQDN, OPS_SUBNET
from simulator.testing import eventually
from tests.e2e.preflight_sim import simulated_arm

pytestmark = pytest.mark.e2e

PREFIX = "runner-fleet: "
NOT_RESOLVED = (
    f"{PREFIX}API server {AKS_FQDN} does not resolve: is the private DNS zone linked to the runner VNet?"
)
NO_ANSWER = f"{PREFIX}API server {AKS_FQDN} (10.10.0.4:443) does not answer: check peering, NSG and routes"
CASES = [
    ("healthy", f"{PREFIX}API server {AKS_FQDN} reachable at 10.10.0.4:443", None),
    ("missing-dns-link", NOT_RESOLVED, "no private DNS zone linked to the VNet holds the name"),
    ("link-in-progress", NOT_RESOLVED, "no private DNS zone linked to the VNet holds the name"),
    (
        "custom-dns",
        NOT_RESOLVED,
        "custom DNS servers 10.20.255.4, 10.20.255.5 do not forward to 168.63.129.16",
    ),
    (
        "public-dns-answer",
        f"{PREFIX}API server {AKS_FQDN} resolves to public address 20.61.45.12, not its private endpoint",
        None,
    ),
    ("no-peering", NO_ANSWER, "vnet-runners is not peered (Connected, both ways) with vnet-aks"),
    ("peering-initiated", NO_ANSWER, "vnet-runners is not peered (Connected, both ways) with vnet-aks"),
    (
        "outbound-443-denied",
        NO_ANSWER,
        "NSG nsg-runners rule deny-https-to-aks denies outbound TCP 443 to 10.10.0.4",
    ),
]


async def boot_runner(arm: ArmSimulator, name: str, subnet_id: str | None = None) -> dict[str, Any]:
    """Create a runner VM whose runner.json names the cluster's API server; wait until its guest settles."""
    data = runner_user_data(
        runner_json(name, api_server={"fqdn": AKS_FQDN, "port": 443}, forge_url="http://127.0.0.1:9"),
        github_jit_config("http://127.0.0.1:9", token="t"),
    )
    async with ComputeManagementClient(
        StaticTokenCredential(),
        "00000000-0000-0000-0000-000000000001",
        base_url=arm.base_url,
        credential_scopes=["https://management.azure.com/.default"],
        connection_verify=str(arm.ca_bundle),
        polling_interval=0.05,
    ) as compute:
        body = cm.VirtualMachine(runner_vm_body(name, custom_data=data, subnet_id=subnet_id))
        await (await compute.virtual_machines.begin_create_or_update("rg-runners", name, body)).result()

    async def settled() -> dict[str, Any] | None:
        vm = await asyncio.to_thread(arm.vm, name)
        return vm if vm is not None and vm["guest_state"] in ("failed", "exited") else None

    return await eventually(settled, within_s=10, poll_s=0.02, what=f"the guest of {name} to settle")


@pytest.mark.parametrize(("name", "line", "why"), CASES, ids=[c[0] for c in CASES])
async def test_the_guest_checks_the_api_server_from_its_vnet(name: str, line: str, why: str | None) -> None:
    """The console carries start-runner.sh's line for the outcome; a failed check never registers."""
    with simulated_arm(name) as arm:
        vm = await boot_runner(arm, "vm-check")
        console = "\n".join(await asyncio.to_thread(arm.console, "vm-check"))
    assert line in console
    if name == "healthy":
        assert vm["api_server_check"] == "passed"
        return
    assert vm["api_server_check"] == "failed" and vm["guest_state"] == "failed"
    assert f"{PREFIX}not registering: this runner could not deploy to the cluster" in console
    assert vm["runner"] == {} and vm["registered_at"] is None
    if why is not None:
        assert f"{PREFIX}  ({why})" in console


async def test_a_vm_in_the_unlinked_ops_vnet_cannot_resolve_but_one_in_the_runner_vnet_can() -> None:
    """In the demo topology the same FQDN resolves from vnet-runners and not from vnet-ops."""
    with simulated_arm("demo") as arm:
        good = await boot_runner(arm, "vm-runners")
        bad = await boot_runner(arm, "vm-ops", subnet_id=OPS_SUBNET)
        console = "\n".join(await asyncio.to_thread(arm.console, "vm-ops"))
    assert (good["api_server_check"], bad["api_server_check"]) == ("passed", "failed")
    assert NOT_RESOLVED in console
