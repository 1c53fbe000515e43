"""VM lifecycle through the real azure-mgmt SDKs: one PUT with an inline NIC, LRO polling, reads,
lists with paging, delete, and what is left behind."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError, ResourceNotFoundError
from azure.core.pipeline import PipelineResponse
from azure.mgmt.compute import ComputeManagementClient as SyncComputeManagementClient
from azure.mgmt.compute import models as cm
from azure.mgmt.compute.aio import ComputeManagementClient
from azure.mgmt.network.aio import NetworkManagementClient

from simulator.arm import DEFAULT_SUBSCRIPTION_ID, ArmSimulator, default_subnet_id
from simulator.arm.samples import runner_vm_body as runner_vm_json

RG = "rg-runners"


def runner_vm_body(name: str, **options: Any) -> cm.VirtualMachine:
    """The runner VM PUT as the SDK model the service sends (built from its wire JSON)."""
    return cm.VirtualMachine(runner_vm_json(name, **options))


NIC_TYPE = "Microsoft.Network/networkInterfaces"
DISK_TYPE = "Microsoft.Compute/disks"


async def create(compute: ComputeManagementClient, name: str, body: cm.VirtualMachine) -> Any:
    poller = await compute.virtual_machines.begin_create_or_update(RG, name, body)
    return await poller.result()


async def delete(compute: ComputeManagementClient, name: str) -> None:
    poller = await compute.virtual_machines.begin_delete(RG, name)
    await poller.result()


def statuses(vm: Any) -> list[str]:
    return [s.code for s in vm.instance_view.statuses]


async def test_create_polls_the_operation_for_the_provisioning_time(
    sim: ArmSimulator, compute: ComputeManagementClient
) -> None:
    """begin_create_or_update().result() returns the Succeeded VM after about the provisioning time."""
    started = time.monotonic()
    vm = await create(compute, "vm-life-1", runner_vm_body("vm-life-1"))
    elapsed = time.monotonic() - started

    provisioning = sim.clock.real(6.0)
    assert provisioning * 0.9 <= elapsed <= provisioning + 1.0
    assert vm.provisioning_state == "Succeeded"
    assert vm.hardware_profile.vm_size == "Standard_D2ads_v5"
    assert vm.tags == {"runner-fleet/pool": "default"}
    log = sim.request_log()
    assert (log[0]["method"], log[0]["status"]) == ("PUT", 201)
    assert any("/operations/" in e["path"] for e in log)
    assert (log[-1]["method"], log[-1]["status"]) == ("GET", 200)


async def test_put_answers_201_creating_with_an_async_operation_header(
    compute: ComputeManagementClient,
) -> None:
    """The create PUT answers 201 with provisioningState Creating and an Azure-AsyncOperation URL."""
    seen: list[PipelineResponse[Any, Any]] = []
    poller = await compute.virtual_machines.begin_create_or_update(
        RG, "vm-life-2", runner_vm_body("vm-life-2"), raw_response_hook=seen.append
    )
    initial = seen[0].http_response
    assert initial.status_code == 201
    assert initial.json()["properties"]["provisioningState"] == "Creating"
    operation_url = initial.headers["Azure-AsyncOperation"]
    assert (
        f"/subscriptions/{DEFAULT_SUBSCRIPTION_ID}/providers/Microsoft.Compute/locations/westeurope/operations/"
        in (operation_url)
    )
    assert "api-version=" in operation_url
    assert int(initial.headers["retry-after-ms"]) >= 1
    await poller.result()


async def test_vm_being_created_reports_creating_and_starting(compute: ComputeManagementClient) -> None:
    """While the create runs, GET shows provisioningState Creating and PowerState/starting."""
    poller = await compute.virtual_machines.begin_create_or_update(RG, "vm-early", runner_vm_body("vm-early"))
    vm = await compute.virtual_machines.get(RG, "vm-early", expand="instanceView")
    assert vm.provisioning_state == "Creating"
    assert statuses(vm) == ["ProvisioningState/creating", "PowerState/starting"]
    await poller.result()


async def test_get_list_and_delete_lifecycle(sim: ArmSimulator, compute: ComputeManagementClient) -> None:
    """A created VM can be read, listed in its group and subscription, and deleted through the LRO."""
    await create(compute, "vm-life-3", runner_vm_body("vm-life-3"))

    vm = await compute.virtual_machines.get(RG, "vm-life-3", expand="instanceView")
    assert statuses(vm) == ["ProvisioningState/succeeded", "PowerState/running"]
    assert [v.name async for v in compute.virtual_machines.list(RG)] == ["vm-life-3"]
    assert [v.name async for v in compute.virtual_machines.list_all()] == ["vm-life-3"]
    view = await compute.virtual_machines.instance_view(RG, "vm-life-3")
    assert view.computer_name == "vm-life-3"

    started = time.monotonic()
    await delete(compute, "vm-life-3")
    assert time.monotonic() - started >= sim.clock.real(2.0) * 0.9

    with pytest.raises(ResourceNotFoundError):
        await compute.virtual_machines.get(RG, "vm-life-3")
    assert [v.name async for v in compute.virtual_machines.list(RG)] == []
    assert sim.vms() == []
    (gone,) = sim.deleted_vms()
    assert gone["name"] == "vm-life-3"
    assert gone["deleted_at"] >= gone["delete_requested_at"] >= gone["created_at"]


async def test_delete_answers_202_with_operation_and_location(compute: ComputeManagementClient) -> None:
    """DELETE answers 202 with Azure-AsyncOperation and Location headers."""
    await create(compute, "vm-life-4", runner_vm_body("vm-life-4"))
    seen: list[PipelineResponse[Any, Any]] = []
    poller = await compute.virtual_machines.begin_delete(RG, "vm-life-4", raw_response_hook=seen.append)
    initial = seen[0].http_response
    assert initial.status_code == 202
    assert "/operations/" in initial.headers["Azure-AsyncOperation"]
    assert "monitor=true" in initial.headers["Location"]
    await poller.result()


async def test_deleting_a_missing_vm_answers_204(sim: ArmSimulator, compute: ComputeManagementClient) -> None:
    """DELETE of a VM that does not exist answers 204 and the poller completes."""
    await delete(compute, "vm-never-created")
    assert sim.request_log()[-1]["status"] == 204


async def test_get_never_returns_custom_data(compute: ComputeManagementClient) -> None:
    """GET (and the LRO's final GET) never returns osProfile.customData or adminPassword."""
    vm = await create(compute, "vm-life-5", runner_vm_body("vm-life-5"))
    assert vm.os_profile.custom_data is None
    again = await compute.virtual_machines.get(RG, "vm-life-5", expand="instanceView")
    assert again.os_profile.custom_data is None
    assert again.os_profile.admin_password is None
    assert again.os_profile.admin_username == "runner"
    listed = [v async for v in compute.virtual_machines.list(RG)]
    assert listed[0].os_profile.custom_data is None


async def test_put_on_an_existing_vm_is_an_idempotent_update(
    sim: ArmSimulator, compute: ComputeManagementClient
) -> None:
    """A second PUT of the same VM answers 200 and updates its tags without a second create."""
    await create(compute, "vm-life-6", runner_vm_body("vm-life-6"))
    seen: list[PipelineResponse[Any, Any]] = []
    body = runner_vm_body("vm-life-6", tags={"runner-fleet/pool": "default", "job": "17"})
    poller = await compute.virtual_machines.begin_create_or_update(
        RG, "vm-life-6", body, raw_response_hook=seen.append
    )
    vm = await poller.result()
    assert seen[0].http_response.status_code == 200
    assert vm.tags == {"runner-fleet/pool": "default", "job": "17"}
    assert vm.provisioning_state == "Succeeded"
    assert len(sim.vms()) == 1
    assert sim.vms()[0]["tags"]["job"] == "17"


async def test_inline_nic_gets_a_private_ip_and_is_deleted_with_the_vm(
    sim: ArmSimulator, compute: ComputeManagementClient, network: NetworkManagementClient
) -> None:
    """The inline NIC is a NIC resource with a private IP from the subnet, removed with the VM."""
    vm = await create(compute, "vm-nic-1", runner_vm_body("vm-nic-1"))
    nic_ref = vm.network_profile.network_interfaces[0]
    assert nic_ref.id.endswith(
        "/resourceGroups/rg-runners/providers/Microsoft.Network/networkInterfaces/vm-nic-1-nic"
    )
    assert nic_ref.delete_option == "Delete"

    nic = await network.network_interfaces.get(RG, "vm-nic-1-nic")
    ip = nic.ip_configurations[0]
    assert ip.private_ip_address == "10.20.0.4"  # Azure reserves .0-.3
    assert ip.subnet.id.lower() == default_subnet_id().lower()
    assert nic.virtual_machine.id == vm.id
    assert [n.name async for n in network.network_interfaces.list(RG)] == ["vm-nic-1-nic"]
    subnet = await network.subnets.get(RG, "vnet-runners", "snet-runners")
    assert subnet.address_prefix == "10.20.0.0/24"
    assert [c.id for c in subnet.ip_configurations] == [ip.id]
    snapshot = sim.vm("vm-nic-1")
    assert snapshot is not None
    assert snapshot["private_ip"] == "10.20.0.4"
    assert snapshot["has_public_ip"] is False
    assert snapshot["ephemeral_os_disk"] is True
    assert sim.resources(DISK_TYPE) == []  # an ephemeral OS disk is no managed disk

    await delete(compute, "vm-nic-1")
    with pytest.raises(ResourceNotFoundError):
        await network.network_interfaces.get(RG, "vm-nic-1-nic")
    subnet = await network.subnets.get(RG, "vnet-runners", "snet-runners")
    assert not subnet.ip_configurations


async def test_nic_with_detach_is_left_behind_unattached(
    sim: ArmSimulator, compute: ComputeManagementClient, network: NetworkManagementClient
) -> None:
    """With deleteOption Detach the NIC (and its IP) outlives the VM, detached, as in Azure."""
    await create(compute, "vm-nic-2", runner_vm_body("vm-nic-2", nic_delete_option="Detach"))
    await delete(compute, "vm-nic-2")

    nic = await network.network_interfaces.get(RG, "vm-nic-2-nic")
    assert nic.virtual_machine is None
    assert nic.ip_configurations[0].private_ip_address == "10.20.0.4"
    await create(compute, "vm-nic-3", runner_vm_body("vm-nic-3"))
    third = await network.network_interfaces.get(RG, "vm-nic-3-nic")
    assert third.ip_configurations[0].private_ip_address == "10.20.0.5"  # .4 is still taken

    await (await network.network_interfaces.begin_delete(RG, "vm-nic-2-nic")).result()
    assert [n["id"].rsplit("/", 1)[1] for n in sim.resources(NIC_TYPE)] == ["vm-nic-3-nic"]


async def test_managed_os_disk_follows_its_delete_option(
    sim: ArmSimulator, compute: ComputeManagementClient
) -> None:
    """A non-ephemeral OS disk is a managed disk resource, deleted with the VM only for Delete."""
    vm = await create(compute, "vm-disk-1", runner_vm_body("vm-disk-1", ephemeral=False))
    assert vm.storage_profile.os_disk.managed_disk.id.startswith(
        f"/subscriptions/{DEFAULT_SUBSCRIPTION_ID}/resourceGroups/rg-runners/providers/Microsoft.Compute/disks/vm-disk-1_OsDisk_1_"
    )
    await create(
        compute, "vm-disk-2", runner_vm_body("vm-disk-2", ephemeral=False, os_disk_delete_option="Detach")
    )
    assert len(sim.resources(DISK_TYPE)) == 2

    await asyncio.gather(delete(compute, "vm-disk-1"), delete(compute, "vm-disk-2"))
    (left,) = sim.resources(DISK_TYPE)
    assert left["body"]["name"].startswith("vm-disk-2_OsDisk_1_")
    assert left["body"]["properties"]["diskState"] == "Unattached"


async def test_public_ip_is_reported_and_created(sim: ArmSimulator, compute: ComputeManagementClient) -> None:
    """An ipConfiguration with publicIPAddressConfiguration gets a public IP resource."""
    await create(compute, "vm-pip-1", runner_vm_body("vm-pip-1", public_ip=True))
    snapshot = sim.vm("vm-pip-1")
    assert snapshot is not None
    assert snapshot["has_public_ip"] is True
    assert [r["body"]["name"] for r in sim.resources("Microsoft.Network/publicIPAddresses")] == [
        "vm-pip-1-pip"
    ]
    await delete(compute, "vm-pip-1")
    assert sim.resources("Microsoft.Network/publicIPAddresses") == []


async def test_sdk_models_serialise_to_an_accepted_put(compute: ComputeManagementClient) -> None:
    """A VM built from the SDK's model classes is accepted, as the service will send it."""
    body = cm.VirtualMachine(
        location="westeurope",
        tags={"runner-fleet/pool": "models"},
        properties=cm.VirtualMachineProperties(
            hardware_profile=cm.HardwareProfile(vm_size="Standard_D2ads_v5"),
            storage_profile=cm.StorageProfile(
                image_reference=cm.ImageReference(
                    publisher="Canonical", offer="ubuntu-24_04-lts", sku="server", version="latest"
                ),
                os_disk=cm.OSDisk(
                    create_option="FromImage",
                    caching="ReadOnly",
                    delete_option="Delete",
                    diff_disk_settings=cm.DiffDiskSettings(option="Local", placement="ResourceDisk"),
                ),
            ),
            os_profile=cm.OSProfile(
                computer_name="vm-model-1",
                admin_username="runner",
                custom_data="I2Nsb3VkLWNvbmZpZwp7fQo=",
                linux_configuration=cm.LinuxConfiguration(
                    disable_password_authentication=True,
                    ssh=cm.SshConfiguration(
                        public_keys=[
                            cm.SshPublicKey(
                                path="/home/runner/.ssh/authorized_keys",
                                key_data="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDQ runner",
                            )
                        ]
                    ),
                ),
            ),
            network_profile=cm.NetworkProfile(
                network_api_version="2022-11-01",
                network_interface_configurations=[
                    cm.VirtualMachineNetworkInterfaceConfiguration(
                        name="vm-model-1-nic",
                        properties=cm.VirtualMachineNetworkInterfaceConfigurationProperties(
                            primary=True,
                            delete_option="Delete",
                            ip_configurations=[
                                cm.VirtualMachineNetworkInterfaceIPConfiguration(
                                    name="ipconfig1",
                                    properties=cm.VirtualMachineNetworkInterfaceIPConfigurationProperties(
                                        subnet=cm.SubResource(id=default_subnet_id())
                                    ),
                                )
                            ],
                        ),
                    )
                ],
            ),
            diagnostics_profile=cm.DiagnosticsProfile(boot_diagnostics=cm.BootDiagnostics(enabled=True)),
        ),
    )
    vm = await create(compute, "vm-model-1", body)
    assert vm.provisioning_state == "Succeeded"
    assert vm.storage_profile.os_disk.diff_disk_settings.placement == "ResourceDisk"


async def test_lists_page_with_next_link(sim: ArmSimulator, compute: ComputeManagementClient) -> None:
    """Lists longer than the page size come in pages linked by nextLink, which the SDK follows."""
    sim.configure(page_size=2)
    names = [f"vm-page-{i}" for i in range(5)]
    pollers = [
        await compute.virtual_machines.begin_create_or_update(RG, n, runner_vm_body(n), polling=False)
        for n in names
    ]
    assert len(pollers) == 5

    assert sorted([v.name or "" async for v in compute.virtual_machines.list(RG)]) == names
    assert sorted([v.name or "" async for v in compute.virtual_machines.list_all()]) == names
    pages = [
        e
        for e in sim.request_log()
        if e["path"].endswith("/rg-runners/providers/Microsoft.Compute/virtualMachines")
    ]
    assert len(pages) == 3
    assert sum("skiptoken=" in e["query"] for e in pages) == 2


async def test_boot_diagnostics_point_at_the_serial_console(compute: ComputeManagementClient) -> None:
    """retrieveBootDiagnosticsData gives a serial console log URI."""
    await create(compute, "vm-diag-1", runner_vm_body("vm-diag-1"))
    data = await compute.virtual_machines.retrieve_boot_diagnostics_data(RG, "vm-diag-1")
    assert "/_sim/vms/vm-diag-1/serialconsole.log" in (data.serial_console_log_blob_uri or "")


async def test_requests_without_bearer_token_get_401(sim: ArmSimulator) -> None:
    """A request without Authorization is answered 401 AuthenticationFailed in ARM's error shape."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{sim.base_url}/subscriptions/{DEFAULT_SUBSCRIPTION_ID}/providers/Microsoft.Compute/virtualMachines",
            params={"api-version": "2024-07-01"},
            ssl=ssl.create_default_context(cafile=str(sim.ca_bundle)),
        ) as resp,
    ):
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "AuthenticationFailed"


async def test_sdk_surfaces_401_as_authentication_error(
    sim: ArmSimulator, compute_for: Callable[..., ComputeManagementClient]
) -> None:
    """An empty bearer token is rejected, and the SDK raises ClientAuthenticationError."""
    client = compute_for(sim, principal=" ", retry_total=0)
    with pytest.raises(ClientAuthenticationError):
        await client.virtual_machines.get(RG, "anything")


def test_sync_client_creates_and_deletes(sim: ArmSimulator) -> None:
    """The synchronous ComputeManagementClient drives the same create and delete LROs."""

    class SyncToken:
        def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            return AccessToken("sync-principal", int(time.time()) + 3600)

    with SyncComputeManagementClient(
        SyncToken(),
        DEFAULT_SUBSCRIPTION_ID,
        base_url=sim.base_url,
        credential_scopes=["https://management.azure.com/.default"],
        connection_verify=str(sim.ca_bundle),
        polling_interval=1,
    ) as client:
        vm = client.virtual_machines.begin_create_or_update(
            RG, "vm-sync-1", runner_vm_body("vm-sync-1")
        ).result()
        assert vm.provisioning_state == "Succeeded"
        client.virtual_machines.begin_delete(RG, "vm-sync-1").result()
        assert [v.name for v in client.virtual_machines.list(RG)] == []
