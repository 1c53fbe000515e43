"""VM PUT validation: each rejection carries ARM's status and error code, and creates nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, NamedTuple

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute import models as cm
from azure.mgmt.compute.aio import ComputeManagementClient

from simulator.arm import DEFAULT_SUBSCRIPTION_ID, ArmSimulator, default_subnet_id
from simulator.arm.samples import b64
from simulator.arm.samples import runner_vm_body as runner_vm_json
from simulator.arm.topology import ResourceGroupSpec, SubnetSpec, SubscriptionSpec, Topology, VNetSpec

RG = "rg-runners"


def runner_vm_body(name: str, **options: Any) -> cm.VirtualMachine:
    """The runner VM PUT as the SDK model the service sends (built from its wire JSON)."""
    return cm.VirtualMachine(runner_vm_json(name, **options))


Mutation = Callable[[dict[str, Any]], None]


class Rejection(NamedTuple):
    mutate: Mutation
    status: int
    code: str
    name: str = "vm-v"


def props(body: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = body["properties"]
    return result


def set_size(size: str) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        props(body)["hardwareProfile"]["vmSize"] = size

    return mutate


def set_subnet(subnet_id: str) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        nic = props(body)["networkProfile"]["networkInterfaceConfigurations"][0]
        nic["properties"]["ipConfigurations"][0]["properties"]["subnet"]["id"] = subnet_id

    return mutate


def drop_network_api_version(body: dict[str, Any]) -> None:
    del props(body)["networkProfile"]["networkApiVersion"]


def set_custom_data(value: str) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        props(body)["osProfile"]["customData"] = value

    return mutate


def drop_admin_username(body: dict[str, Any]) -> None:
    del props(body)["osProfile"]["adminUsername"]


def drop_ssh_keys(body: dict[str, Any]) -> None:
    props(body)["osProfile"]["linuxConfiguration"]["ssh"]["publicKeys"] = []


def set_computer_name(name: str) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        props(body)["osProfile"]["computerName"] = name

    return mutate


def set_os_disk(**changes: Any) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        props(body)["storageProfile"]["osDisk"].update(changes)

    return mutate


def set_location(location: str) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        body["location"] = location

    return mutate


def no_change(body: dict[str, Any]) -> None:
    return None


def big_disk_on_d2s_v5(body: dict[str, Any]) -> None:
    set_size("Standard_D2s_v5")(body)
    set_os_disk(diskSizeGB=64)(body)


def set_placement(size: str, placement: str | None) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        set_size(size)(body)
        diff = props(body)["storageProfile"]["osDisk"]["diffDiskSettings"]
        diff.pop("placement", None)
        if placement is not None:
            diff["placement"] = placement

    return mutate


def set_network_api_version(version: str) -> Mutation:
    def mutate(body: dict[str, Any]) -> None:
        props(body)["networkProfile"]["networkApiVersion"] = version

    return mutate


MISSING_SUBNET = default_subnet_id().replace("snet-runners", "snet-missing")
TOO_BIG = b64(b"#cloud-config\n" + b"#" * 65535)
# customData: at most 65,535 bytes once decoded, i.e. at most 87,380 base64 characters.
LARGEST_CUSTOM_DATA = b64(b"#cloud-config\n" + b"#" * (65535 - 14))
ONE_BYTE_TOO_MANY = b64(b"#cloud-config\n" + b"#" * (65536 - 14))

CASES: dict[str, Rejection] = {
    "size-not-offered-here": Rejection(set_size("Standard_NC4as_T4_v3"), 409, "SkuNotAvailable"),
    "unknown-size": Rejection(set_size("Standard_Imaginary_v9"), 400, "InvalidParameter"),
    "missing-subnet": Rejection(set_subnet(MISSING_SUBNET), 400, "InvalidResourceReference"),
    "malformed-subnet": Rejection(set_subnet("not-a-resource-id"), 400, "InvalidResourceReference"),
    "no-network-api-version": Rejection(drop_network_api_version, 400, "InvalidParameter"),
    "name-over-64": Rejection(no_change, 400, "InvalidParameter", "v" * 65),
    "name-bad-character": Rejection(no_change, 400, "InvalidParameter", "vm-bad!name"),
    "name-ends-with-hyphen": Rejection(no_change, 400, "InvalidParameter", "vm-trailing-"),
    "linux-host-underscore": Rejection(set_computer_name("runner_host"), 400, "InvalidParameter"),
    "custom-data-not-b64": Rejection(set_custom_data("not base64 !!"), 400, "InvalidParameter"),
    "custom-data-over-64k": Rejection(set_custom_data(TOO_BIG), 400, "InvalidParameter"),
    "custom-data-65536-bytes": Rejection(set_custom_data(ONE_BYTE_TOO_MANY), 400, "InvalidParameter"),
    "nvme-placement-on-size-without-nvme": Rejection(
        set_placement("Standard_D2ads_v5", "NvmeDisk"), 400, "NotSupported"
    ),
    "resource-disk-placement-on-nvme-only-size": Rejection(
        set_placement("Standard_D2ads_v6", "ResourceDisk"), 400, "NotSupported"
    ),
    "network-api-version-not-accepted-by-compute": Rejection(
        set_network_api_version("2024-05-01"), 400, "InvalidParameter"
    ),
    "ephemeral-unsupported-size": Rejection(set_size("Standard_B2s"), 409, "NotSupported"),
    "ephemeral-too-big-for-cache": Rejection(big_disk_on_d2s_v5, 400, "NotSupported"),
    "ephemeral-resource-disk-on-size-without-one": Rejection(
        set_size("Standard_D2s_v5"), 400, "NotSupported"
    ),
    "no-admin-username": Rejection(drop_admin_username, 400, "InvalidParameter"),
    "no-ssh-key-or-password": Rejection(drop_ssh_keys, 400, "InvalidParameter"),
    "unknown-location": Rejection(set_location("mars-central"), 400, "LocationNotAvailableForResourceType"),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
async def test_invalid_put_is_rejected_and_creates_nothing(
    sim: ArmSimulator, compute: ComputeManagementClient, case: Rejection
) -> None:
    """An invalid VM PUT is rejected with ARM's status and error code and leaves nothing behind."""
    name, status, code = case.name, case.status, case.code
    body = runner_vm_json(name)
    case.mutate(body)
    with pytest.raises(HttpResponseError) as caught:
        await compute.virtual_machines.begin_create_or_update(RG, name, cm.VirtualMachine(body))
    assert caught.value.status_code == status
    assert caught.value.error is not None
    assert caught.value.error.code == code
    assert sim.vms() == []
    assert sim.resources("Microsoft.Network/networkInterfaces") == []
    assert sim.resources("Microsoft.Compute/disks") == []


async def test_ephemeral_disk_that_fits_the_cache_is_accepted(compute: ComputeManagementClient) -> None:
    """An ephemeral OS disk that fits the size's cache (the default placement there) is accepted."""
    body = runner_vm_body("vm-cache-ok", size="Standard_D2s_v5", placement=None)
    vm = await (await compute.virtual_machines.begin_create_or_update(RG, "vm-cache-ok", body)).result()
    assert vm.storage_profile.os_disk.diff_disk_settings.placement == "CacheDisk"


async def test_custom_data_of_65535_bytes_is_accepted(compute: ComputeManagementClient) -> None:
    """Rule arm.vm.custom-data-limit: customData decoding to exactly 65,535 bytes (87,380 characters)
    is accepted; one byte more is refused (see the case custom-data-65536-bytes)."""
    assert len(LARGEST_CUSTOM_DATA) == 87380
    body = runner_vm_body("vm-cd-max", custom_data=LARGEST_CUSTOM_DATA)
    vm = await (await compute.virtual_machines.begin_create_or_update(RG, "vm-cd-max", body)).result()
    assert vm.provisioning_state == "Succeeded"


async def test_nvme_placement_is_accepted_where_the_size_offers_it(compute: ComputeManagementClient) -> None:
    """Rule arm.vm.ephemeral-placement: NvmeDisk on a size listing it is accepted, and it is the
    default placement of a size whose only place is its NVMe disk."""
    body = runner_vm_json("vm-nvme-1", size="Standard_D2ads_v6", placement="NvmeDisk")
    body["properties"]["storageProfile"]["osDisk"]["diskSizeGB"] = 100
    vm = await (
        await compute.virtual_machines.begin_create_or_update(RG, "vm-nvme-1", cm.VirtualMachine(body))
    ).result()
    assert vm.storage_profile.os_disk.diff_disk_settings.placement == "NvmeDisk"
    default = runner_vm_body("vm-nvme-2", size="Standard_D2ads_v6", placement=None)
    vm = await (await compute.virtual_machines.begin_create_or_update(RG, "vm-nvme-2", default)).result()
    assert vm.storage_profile.os_disk.diff_disk_settings.placement == "NvmeDisk"


async def test_nvme_placement_needs_api_version_2024_03_01(compute: ComputeManagementClient) -> None:
    """Rule arm.vm.ephemeral-placement: NvmeDisk sent with an API version older than 2024-03-01 is
    refused with 400 InvalidParameter, however well the size fits."""
    body = runner_vm_body("vm-nvme-old", size="Standard_D2ads_v6", placement="NvmeDisk")
    with pytest.raises(HttpResponseError) as caught:
        await compute.virtual_machines.begin_create_or_update(
            RG, "vm-nvme-old", body, api_version="2023-09-01"
        )
    assert caught.value.status_code == 400
    assert caught.value.error is not None
    assert caught.value.error.code == "InvalidParameter"


async def test_a_subnet_in_another_subscription_is_refused(
    make_sim: Callable[..., ArmSimulator], compute_for: Callable[..., ComputeManagementClient]
) -> None:
    """Rule arm.vm.nic-subnet-subscription: an inline NIC (in the VM's subscription) cannot use a subnet
    of a VNet in another subscription, even in the same region: 400 InvalidResourceReference."""
    sim = make_sim(topology=two_subscription_topology())
    compute = compute_for(sim)
    foreign = default_subnet_id().replace(DEFAULT_SUBSCRIPTION_ID, OTHER_SUBSCRIPTION)
    with pytest.raises(HttpResponseError) as caught:
        await compute.virtual_machines.begin_create_or_update(
            RG, "vm-foreign", runner_vm_body("vm-foreign", subnet_id=foreign)
        )
    assert caught.value.status_code == 400
    assert caught.value.error is not None
    assert caught.value.error.code == "InvalidResourceReference"
    assert sim.vms() == []


async def test_password_instead_of_ssh_key_is_accepted(compute: ComputeManagementClient) -> None:
    """A Linux VM with password authentication enabled needs no SSH key."""
    body = runner_vm_json("vm-password")
    os_profile = body["properties"]["osProfile"]
    os_profile["adminPassword"] = "N0t-a-real-password!"
    os_profile["linuxConfiguration"] = {"disablePasswordAuthentication": False}
    vm = await (
        await compute.virtual_machines.begin_create_or_update(RG, "vm-password", cm.VirtualMachine(body))
    ).result()
    assert vm.os_profile.admin_password is None


async def test_missing_resource_group_is_404(compute: ComputeManagementClient) -> None:
    """A PUT into a resource group that does not exist answers 404 ResourceGroupNotFound."""
    with pytest.raises(HttpResponseError) as caught:
        await compute.virtual_machines.begin_create_or_update("rg-nope", "vm-x", runner_vm_body("vm-x"))
    assert caught.value.status_code == 404
    assert caught.value.error is not None
    assert caught.value.error.code == "ResourceGroupNotFound"


OTHER_SUBSCRIPTION = "00000000-0000-0000-0000-000000000002"


def two_subscription_topology() -> Topology:
    def subscription(sub_id: str) -> SubscriptionSpec:
        return SubscriptionSpec(
            id=sub_id,
            resource_groups=(ResourceGroupSpec(RG, "westeurope"),),
            vnets=(
                VNetSpec(
                    RG, "vnet-runners", ("10.20.0.0/16",), (SubnetSpec("snet-runners", "10.20.0.0/24"),)
                ),
            ),
        )

    return Topology(subscriptions=(subscription(DEFAULT_SUBSCRIPTION_ID), subscription(OTHER_SUBSCRIPTION)))


def two_region_topology() -> Topology:
    return Topology(
        subscriptions=(
            SubscriptionSpec(
                id=DEFAULT_SUBSCRIPTION_ID,
                resource_groups=(
                    ResourceGroupSpec(RG, "westeurope"),
                    ResourceGroupSpec("rg-north", "northeurope"),
                ),
                vnets=(
                    VNetSpec(
                        RG, "vnet-runners", ("10.20.0.0/16",), (SubnetSpec("snet-runners", "10.20.0.0/24"),)
                    ),
                    VNetSpec(
                        "rg-north",
                        "vnet-north",
                        ("10.30.0.0/16",),
                        (SubnetSpec("snet-north", "10.30.0.0/24"),),
                    ),
                ),
            ),
        ),
        locations=("westeurope", "northeurope"),
    )


async def test_location_must_match_the_resource_group(
    make_sim: Callable[..., ArmSimulator], compute_for: Callable[..., ComputeManagementClient]
) -> None:
    """A VM whose location differs from its resource group's is rejected with InvalidParameter."""
    sim = make_sim(topology=two_region_topology())
    compute = compute_for(sim)
    with pytest.raises(HttpResponseError) as caught:
        await compute.virtual_machines.begin_create_or_update(
            RG, "vm-north", runner_vm_body("vm-north", location="northeurope")
        )
    assert caught.value.status_code == 400
    assert caught.value.error is not None
    assert caught.value.error.code == "InvalidParameter"
    assert sim.vms() == []


async def test_subnet_in_another_region_is_an_invalid_reference(
    make_sim: Callable[..., ArmSimulator], compute_for: Callable[..., ComputeManagementClient]
) -> None:
    """A NIC cannot use a subnet of a VNet in another region (InvalidResourceReference)."""
    sim = make_sim(topology=two_region_topology())
    compute = compute_for(sim)
    north_subnet = default_subnet_id().replace("rg-runners", "rg-north").replace("-runners", "-north")
    with pytest.raises(HttpResponseError) as caught:
        await compute.virtual_machines.begin_create_or_update(
            RG, "vm-cross", runner_vm_body("vm-cross", subnet_id=north_subnet)
        )
    assert caught.value.error is not None
    assert caught.value.error.code == "InvalidResourceReference"


async def test_full_subnet_fails_the_create_with_subnet_is_full(
    make_sim: Callable[..., ArmSimulator], compute_for: Callable[..., ComputeManagementClient]
) -> None:
    """A /29 holds 3 NICs (8 minus 5 reserved); the 4th create fails with SubnetIsFull until one is freed."""
    topology = Topology(
        subscriptions=(
            SubscriptionSpec(
                id=DEFAULT_SUBSCRIPTION_ID,
                resource_groups=(ResourceGroupSpec(RG, "westeurope"),),
                vnets=(
                    VNetSpec(
                        RG, "vnet-runners", ("10.20.0.0/16",), (SubnetSpec("snet-runners", "10.20.0.0/29"),)
                    ),
                ),
            ),
        ),
    )
    sim = make_sim(topology=topology)
    compute = compute_for(sim)
    names = ["vm-full-1", "vm-full-2", "vm-full-3"]
    pollers = await asyncio.gather(
        *(compute.virtual_machines.begin_create_or_update(RG, n, runner_vm_body(n)) for n in names)
    )
    await asyncio.gather(*(p.result() for p in pollers))
    assert sorted(vm["private_ip"] for vm in sim.vms()) == ["10.20.0.4", "10.20.0.5", "10.20.0.6"]

    with pytest.raises(HttpResponseError) as caught:
        await compute.virtual_machines.begin_create_or_update(RG, "vm-full-4", runner_vm_body("vm-full-4"))
    assert caught.value.status_code == 400
    assert caught.value.error is not None
    assert caught.value.error.code == "SubnetIsFull"
    assert len(sim.vms()) == 3

    freed = sim.vm("vm-full-2")
    assert freed is not None
    await (await compute.virtual_machines.begin_delete(RG, "vm-full-2")).result()
    vm = await (
        await compute.virtual_machines.begin_create_or_update(RG, "vm-full-4", runner_vm_body("vm-full-4"))
    ).result()
    assert vm.provisioning_state == "Succeeded"
    snapshot = sim.vm("vm-full-4")
    assert snapshot is not None
    assert snapshot["private_ip"] == freed["private_ip"]


async def test_changing_custom_data_of_an_existing_vm_is_not_allowed(
    compute: ComputeManagementClient,
) -> None:
    """A PUT that changes an existing VM's customData answers 409 PropertyChangeNotAllowed."""
    await (
        await compute.virtual_machines.begin_create_or_update(RG, "vm-cd", runner_vm_body("vm-cd"))
    ).result()
    changed = runner_vm_body("vm-cd", custom_data=b64("#cloud-config\nruncmd: []\n"))
    with pytest.raises(HttpResponseError) as caught:
        await compute.virtual_machines.begin_create_or_update(RG, "vm-cd", changed)
    assert caught.value.status_code == 409
    assert caught.value.error is not None
    assert caught.value.error.code == "PropertyChangeNotAllowed"
