"""The in-VM checks: a booted runner VM first needs a way to its forge (NSG, routes, NAT gateway,
default outbound access, firewall rules), then resolves the API server FQDN and every private
endpoint in runner.json as its VNet does (linked private zones, custom DNS), needs private addresses
that answer (peering, NSG, routes, endpoint approval), says why on the serial console when not, and
then never registers. A probe VM (probe.json in its user data) runs no runner: it prints one result
line per target, as the probe contract says, and powers off."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
import yaml
from azure.mgmt.compute import models as cm
from azure.mgmt.compute.aio import ComputeManagementClient

from runner_fleet.adapters.azure.credentials import StaticTokenCredential
from simulator.arm import ArmSimulator
from simulator.arm.guest.cloudinit import PROBE_JSON, PROBE_SCRIPT
from simulator.arm.samples import b64, github_jit_config, runner_json, runner_user_data, runner_vm_body
from simulator.arm.seeding_network import public_address_for
from simulator.arm.topology import (
    ACR_ADDRESS,
    ACR_DATA_FQDN,
    ACR_FQDN,
    ACR_PUBLIC_ADDRESS,
    AKS_FQDN,
    KEYVAULT_ADDRESS,
    KEYVAULT_FQDN,
    OPS_SUBNET,
)
from simulator.testing import eventually
from tests.e2e.preflight_sim import simulated_arm
from tests.probe_contract import RESULT_KEYS

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


async def boot_runner(
    arm: ArmSimulator, name: str, subnet_id: str | None = None, endpoints: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Create a runner VM whose runner.json names the cluster's API server (and private endpoints);
    wait until its guest settles."""
    config = runner_json(name, api_server={"fqdn": AKS_FQDN, "port": 443}, forge_url="http://127.0.0.1:9")
    if endpoints:
        config["endpoints"] = [{"fqdn": fqdn, "port": 443} for fqdn in endpoints]
    data = runner_user_data(config, github_jit_config("http://127.0.0.1:9", token="t"))
    return await boot(arm, name, data, subnet_id)


async def boot(arm: ArmSimulator, name: str, data: str, subnet_id: str | None = None) -> dict[str, Any]:
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


def probe_user_data(probe: str, targets: list[dict[str, Any]]) -> str:
    """User data as the probe contract has it: probe.json and probe.sh written, the script run."""
    document = {
        "write_files": [
            {
                "path": PROBE_JSON,
                "content": json.dumps({"probe": probe, "targets": targets}),
                "permissions": "0644",
            },
            {"path": PROBE_SCRIPT, "content": "#!/bin/bash\n# probe.sh\npoweroff\n", "permissions": "0755"},
        ],
        "runcmd": [["bash", PROBE_SCRIPT]],
    }
    return b64("#cloud-config\n" + yaml.safe_dump(document))


def target(kind: str, fqdn: str, expect: str) -> dict[str, Any]:
    return {"target": kind, "name": fqdn, "fqdn": fqdn, "port": 443, "expect": expect}


PROBE_TARGETS = [
    target("api-server", AKS_FQDN, "private"),
    target("forge", "github.com", "any"),
    target("forge", "broker.actions.githubusercontent.com", "any"),
    target("endpoint", ACR_FQDN, "private"),
    target("endpoint", ACR_DATA_FQDN, "private"),
    target("endpoint", KEYVAULT_FQDN, "private"),
]


async def probe(preset: str, targets: list[dict[str, Any]] | None = None) -> tuple[dict[str, Any], list[str]]:
    """Boot a probe VM on `preset`; its settled snapshot and its console lines."""
    with simulated_arm(preset) as arm:
        vm = await boot(arm, "vm-probe", probe_user_data("p-1", targets or PROBE_TARGETS))
        return vm, await asyncio.to_thread(arm.console, "vm-probe")


def results(console: list[str]) -> dict[str, dict[str, Any]]:
    marker = "runner-fleet-probe: result "
    found = [json.loads(line.split(marker, 1)[1]) for line in console if marker in line]
    return {r["fqdn"]: r for r in found}


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


async def test_a_runner_without_a_way_out_never_registers() -> None:
    """no-egress: the runner cannot reach its forge (the loopback simulator stands for github.com), says
    why and never registers, before any other check."""
    with simulated_arm("no-egress") as arm:
        vm = await boot_runner(arm, "vm-stuck")
        console = "\n".join(await asyncio.to_thread(arm.console, "vm-stuck"))
    assert (
        f"{PREFIX}cannot reach github.com:443: snet-runners is a private subnet "
        "(defaultOutboundAccess false) with no NAT gateway and no route to a firewall: no way out"
    ) in console
    assert f"{PREFIX}not registering: this runner cannot reach its forge" in console
    assert vm["guest_state"] == "failed" and vm["runner"] == {} and vm["registered_at"] is None
    assert vm["api_server_check"] is None


async def test_a_firewall_without_the_forges_stops_the_runner() -> None:
    """firewall-blocks-forge: the firewall's policy has no rule for github.com: the runner never registers."""
    with simulated_arm("firewall-blocks-forge") as arm:
        vm = await boot_runner(arm, "vm-fw")
        console = "\n".join(await asyncio.to_thread(arm.console, "vm-fw"))
    assert "sends it to Azure Firewall afw-hub: no rule allows TCP 443 to github.com" in console
    assert vm["guest_state"] == "failed" and vm["registered_at"] is None


ENDPOINTS = (ACR_FQDN, ACR_DATA_FQDN, KEYVAULT_FQDN)
ENDPOINT_CASES = [
    ("healthy", f"{PREFIX}endpoint {KEYVAULT_FQDN} reachable at {KEYVAULT_ADDRESS}:443", None),
    (
        "acr-zone-unlinked",
        f"{PREFIX}endpoint {ACR_FQDN} resolves to public address {ACR_PUBLIC_ADDRESS}, "
        "not its private endpoint",
        None,
    ),
    (
        "endpoint-pending",
        f"{PREFIX}endpoint {KEYVAULT_FQDN} ({KEYVAULT_ADDRESS}:443) does not answer: "
        "check peering, NSG and routes",
        "private endpoint pe-kv-prod's connection to kv-prod is Pending: "
        "no traffic flows until it is Approved",
    ),
]


@pytest.mark.parametrize(("name", "line", "why"), ENDPOINT_CASES, ids=[c[0] for c in ENDPOINT_CASES])
async def test_the_guest_checks_every_private_endpoint(name: str, line: str, why: str | None) -> None:
    """runner.json's endpoints are checked like the API server, each with its own console line; any
    failure and the runner does not register."""
    with simulated_arm(name) as arm:
        vm = await boot_runner(arm, "vm-pe", endpoints=ENDPOINTS)
        console = "\n".join(await asyncio.to_thread(arm.console, "vm-pe"))
    assert line in console
    if why is not None:
        assert f"{PREFIX}  ({why})" in console
    if name == "healthy":
        assert f"{PREFIX}endpoint {ACR_FQDN} reachable at {ACR_ADDRESS}:443" in console
        assert "not registering" not in console
        return
    assert f"{PREFIX}not registering" in console and vm["runner"] == {}


async def test_an_endpoint_nobody_made_does_not_resolve() -> None:
    """A registry name public DNS does not know: the does-not-resolve line and its reason."""
    with simulated_arm("healthy") as arm:
        await boot_runner(arm, "vm-nx", endpoints=("acrgone.azurecr.io",))
        console = "\n".join(await asyncio.to_thread(arm.console, "vm-nx"))
    assert (
        f"{PREFIX}endpoint acrgone.azurecr.io does not resolve: "
        "is its private DNS zone linked to the runner VNet?"
    ) in console
    assert "no such registry exists" in console


async def test_a_probe_on_the_healthy_network_passes_every_target_and_powers_off() -> None:
    """The probe prints start, one result per target and done; every target resolves (privately where
    expected), connects and completes TLS; no runner, the VM powers off."""
    vm, console = await probe("healthy")
    assert any('runner-fleet-probe: start {"probe": "p-1", "targets": 6}' in line for line in console)
    assert any('runner-fleet-probe: done {"probe": "p-1"}' in line for line in console)
    found = results(console)
    assert list(found) == [t["fqdn"] for t in PROBE_TARGETS]
    for fqdn, result in found.items():
        assert (result["tls"], result["resolve_error"], result["connect_error"]) == ("ok", None, None), result
        assert result["scope"] == ("public" if fqdn.endswith(".com") else "private"), result
        low, high = (10, 30) if result["scope"] == "public" else (1, 3)
        assert low <= result["connect_ms"] <= high
    assert found[ACR_FQDN]["address"] == ACR_ADDRESS and found["github.com"]["address"] == public_address_for(
        "github.com"
    )
    assert list(found[AKS_FQDN]) == list(RESULT_KEYS)
    assert (vm["guest_state"], vm["power_state"], vm["runner"], vm["registered_at"]) == (
        "exited",
        "stopped",
        {},
        None,
    )


async def test_a_probe_behind_custom_dns_resolves_the_forge_but_not_the_api_server() -> None:
    """custom-dns: the API server's name resolves nowhere (no forwarding to Azure DNS); the forge does."""
    _, console = await probe("custom-dns")
    found = results(console)
    api = found[AKS_FQDN]
    assert (api["address"], api["scope"], api["tls"]) == (None, None, None)
    assert (
        "custom DNS servers 10.20.255.4, 10.20.255.5 do not forward to 168.63.129.16" in api["resolve_error"]
    )
    assert (found["github.com"]["scope"], found["github.com"]["tls"]) == ("public", "ok")


async def test_a_probe_without_a_way_out_reaches_the_cluster_but_not_the_forge() -> None:
    """no-egress: the forge resolves but does not connect (no way out); private targets still answer."""
    _, console = await probe("no-egress")
    found = results(console)
    forge = found["github.com"]
    assert forge["scope"] == "public" and forge["tls"] is None and forge["connect_ms"] is None
    assert "no NAT gateway and no route to a firewall: no way out" in forge["connect_error"]
    assert found[AKS_FQDN]["tls"] == "ok"


async def test_a_probe_sees_the_registry_public_when_its_zone_is_not_linked() -> None:
    """acr-zone-unlinked: the registry's names resolve to public addresses (and connect through the NAT
    gateway); the key vault stays private."""
    _, console = await probe("acr-zone-unlinked")
    found = results(console)
    assert (found[ACR_FQDN]["address"], found[ACR_FQDN]["scope"]) == (ACR_PUBLIC_ADDRESS, "public")
    assert found[ACR_DATA_FQDN]["scope"] == "public"
    assert (found[KEYVAULT_FQDN]["scope"], found[KEYVAULT_FQDN]["tls"]) == ("private", "ok")


async def test_a_probe_carries_no_secret() -> None:
    """User data with probe.json and a runner secret is refused: the probe VM runs nothing."""
    data = probe_user_data("p-2", PROBE_TARGETS[:1])
    document = yaml.safe_load(base64.b64decode(data).decode().removeprefix("#cloud-config\n"))
    document["write_files"].append({"path": "/etc/runner-fleet/runner.secret", "content": "s"})
    with simulated_arm("healthy") as arm:
        vm = await boot(arm, "vm-leaky", b64("#cloud-config\n" + yaml.safe_dump(document)))
        console = "\n".join(await asyncio.to_thread(arm.console, "vm-leaky"))
    assert vm["guest_state"] == "failed" and "a probe carries no secret" in console
    assert "runner-fleet-probe:" not in console


@pytest.mark.parametrize("name", ["firewall-egress", "default-outbound"])
async def test_a_runner_gets_out_through_a_firewall_or_default_outbound_access(name: str) -> None:
    """firewall-egress (the policy allows the GitHub hosts) and default-outbound: the forge is reachable,
    the API server check runs and passes."""
    with simulated_arm(name) as arm:
        vm = await boot_runner(arm, "vm-out")
        console = "\n".join(await asyncio.to_thread(arm.console, "vm-out"))
    assert "cannot reach" not in console and vm["api_server_check"] == "passed"
