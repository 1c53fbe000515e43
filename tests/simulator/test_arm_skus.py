"""Resource SKUs: the VM size catalogue with capabilities, restrictions and the location filter."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute.aio import ComputeManagementClient

from simulator.arm import ArmSimulator


def capabilities(sku: Any) -> dict[str, str]:
    return {c.name: c.value for c in sku.capabilities}


async def test_location_filter_lists_vm_sizes_with_capabilities(compute: ComputeManagementClient) -> None:
    """`location eq 'westeurope'` lists the sizes there with vCPUs, memory, disk and ephemeral support."""
    skus = {s.name: s async for s in compute.resource_skus.list(filter="location eq 'westeurope'")}
    assert set(skus) == {
        "Standard_D2ads_v5",
        "Standard_D4ads_v5",
        "Standard_D2s_v5",
        "Standard_B2s",
        "Standard_F4s_v2",
        "Standard_D2ads_v6",
        "Standard_NC4as_T4_v3",
    }
    d2ads = skus["Standard_D2ads_v5"]
    assert d2ads.resource_type == "virtualMachines"
    assert d2ads.locations == ["westeurope"]
    caps = capabilities(d2ads)
    assert caps["vCPUs"] == "2"
    assert caps["MemoryGB"] == "8"
    assert caps["MaxResourceVolumeMB"] == "76800"
    assert caps["EphemeralOSDiskSupported"] == "True"
    assert capabilities(skus["Standard_D2s_v5"])["CachedDiskBytes"] == str(50 * 1024**3)
    assert capabilities(skus["Standard_B2s"])["EphemeralOSDiskSupported"] == "False"
    assert d2ads.restrictions == []


async def test_restricted_size_is_listed_with_its_restriction(compute: ComputeManagementClient) -> None:
    """A size the subscription may not use in a location is listed with a Location restriction."""
    skus = {s.name: s async for s in compute.resource_skus.list(filter="location eq 'westeurope'")}
    (restriction,) = skus["Standard_NC4as_T4_v3"].restrictions or []
    assert restriction.type == "Location"
    assert restriction.reason_code == "NotAvailableForSubscription"
    assert restriction.restriction_info is not None
    assert restriction.restriction_info.locations == ["westeurope"]  # `.values` is the Mapping method


async def test_unknown_location_lists_nothing(compute: ComputeManagementClient) -> None:
    """A location the subscription does not have lists no SKUs."""
    assert [s async for s in compute.resource_skus.list(filter="location eq 'antarctica'")] == []


async def test_unsupported_filter_is_rejected(compute: ComputeManagementClient) -> None:
    """A $filter other than `location eq '...'` is rejected with 400 InvalidParameter."""
    with pytest.raises(HttpResponseError) as caught:
        [s async for s in compute.resource_skus.list(filter="name eq 'Standard_B2s'")]
    assert caught.value.status_code == 400


async def test_catalogue_is_configurable(sim: ArmSimulator, compute: ComputeManagementClient) -> None:
    """The size catalogue can be replaced at run time, and the list pages like any other."""
    sim.configure(
        page_size=1,
        sizes=[
            {
                "name": "Standard_X2",
                "family": "standardXFamily",
                "vcpus": 2,
                "memory_gb": 4,
                "max_resource_volume_mb": 0,
                "cached_disk_bytes": 0,
                "ephemeral_os_disk_supported": False,
            },
            {
                "name": "Standard_X4",
                "family": "standardXFamily",
                "vcpus": 4,
                "memory_gb": 8,
                "max_resource_volume_mb": 0,
                "cached_disk_bytes": 0,
                "ephemeral_os_disk_supported": False,
            },
        ],
    )
    assert [s.name async for s in compute.resource_skus.list()] == ["Standard_X2", "Standard_X4"]


async def test_ephemeral_placements_and_nvme_size_are_listed(compute: ComputeManagementClient) -> None:
    """Rule arm.skus.ephemeral-placements: each size lists where an ephemeral OS disk may go
    (SupportedEphemeralOSDiskPlacements) and an NVMe size its NVMe disk (NvmeDiskSizeInMiB)."""
    skus = {
        s.name: capabilities(s) async for s in compute.resource_skus.list(filter="location eq 'westeurope'")
    }
    v6 = skus["Standard_D2ads_v6"]
    assert (v6["SupportedEphemeralOSDiskPlacements"], v6["NvmeDiskSizeInMiB"]) == (
        "NvmeDisk",
        str(110 * 1024),
    )
    assert v6["MaxResourceVolumeMB"] == "0"
    assert skus["Standard_F4s_v2"]["SupportedEphemeralOSDiskPlacements"] == "ResourceDisk,CacheDisk"
    assert "NvmeDiskSizeInMiB" not in skus["Standard_F4s_v2"]
    assert "SupportedEphemeralOSDiskPlacements" not in skus["Standard_B2s"]  # no ephemeral OS disk at all
