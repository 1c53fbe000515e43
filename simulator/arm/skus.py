"""`GET /subscriptions/{sub}/providers/Microsoft.Compute/skus`: the VM size catalogue.

Like Azure, the list has one entry per size and location, and a size that the subscription may
not use in a location is still listed there, with a `restrictions` entry saying why. Where an
ephemeral OS disk may go is `SupportedEphemeralOSDiskPlacements` (comma-separated), the local NVMe
disk's size `NvmeDiskSizeInMiB`, as in the catalogue Azure returns for the v6 sizes.
"""

from __future__ import annotations

import re
from typing import Any

from simulator.arm.config import VmSize
from simulator.arm.errors import invalid_parameter

_LOCATION_FILTER = re.compile(r"^\s*location\s+eq\s+'([^']*)'\s*$", re.IGNORECASE)


def parse_location_filter(expression: str | None) -> str | None:
    if not expression:
        return None
    match = _LOCATION_FILTER.match(expression)
    if match is None:
        raise invalid_parameter(
            f"The $filter '{expression}' is not supported; only \"location eq '<location>'\" is.", "$filter"
        )
    return match.group(1)


def sku_entries(
    sizes: tuple[VmSize, ...], locations: tuple[str, ...], location: str | None
) -> list[dict[str, Any]]:
    wanted = [loc for loc in locations if location is None or loc.lower() == location.lower()]
    entries = []
    for size in sizes:
        listed = size.locations if size.locations is not None else locations
        for loc in wanted:
            if loc.lower() in {x.lower() for x in listed}:
                entries.append(_entry(size, loc))
    return entries


def _entry(size: VmSize, location: str) -> dict[str, Any]:
    restricted = location.lower() in {x.lower() for x in size.restricted_locations}
    restrictions = []
    if restricted:
        restrictions.append(
            {
                "type": "Location",
                "values": [location],
                "restrictionInfo": {"locations": [location]},
                "reasonCode": "NotAvailableForSubscription",
            }
        )
    return {
        "resourceType": "virtualMachines",
        "name": size.name,
        "tier": "Standard",
        "size": size.name.removeprefix("Standard_"),
        "family": size.family,
        "locations": [location],
        "locationInfo": [{"location": location, "zones": list(size.zones), "zoneDetails": []}],
        "capabilities": [{"name": name, "value": value} for name, value in _capabilities(size)],
        "restrictions": restrictions,
    }


def _capabilities(size: VmSize) -> list[tuple[str, str]]:
    def flag(value: bool) -> str:
        return "True" if value else "False"

    return [
        ("MaxResourceVolumeMB", str(size.max_resource_volume_mb)),
        ("OSVhdSizeMB", "1047552"),
        ("vCPUs", str(size.vcpus)),
        ("MemoryPreservingMaintenanceSupported", "True"),
        ("HyperVGenerations", "V1,V2"),
        ("MemoryGB", f"{size.memory_gb:g}"),
        ("MaxDataDiskCount", str(size.max_data_disks)),
        ("CpuArchitectureType", "x64"),
        ("LowPriorityCapable", flag(size.low_priority_capable)),
        ("PremiumIO", flag(size.premium_io)),
        ("VMDeploymentTypes", "IaaS"),
        ("vCPUsAvailable", str(size.vcpus)),
        ("CachedDiskBytes", str(size.cached_disk_bytes)),
        ("EphemeralOSDiskSupported", flag(size.ephemeral_os_disk_supported)),
        *([("SupportedEphemeralOSDiskPlacements", ",".join(size.placements))] if size.placements else []),
        *([("NvmeDiskSizeInMiB", str(size.nvme_disk_mib))] if size.nvme_disk_mib else []),
        ("EncryptionAtHostSupported", "True"),
        ("AcceleratedNetworkingEnabled", flag(size.accelerated_networking)),
        ("RdmaEnabled", "False"),
        ("MaxNetworkInterfaces", "2"),
    ]
