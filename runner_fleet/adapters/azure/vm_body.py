"""The one PUT that creates a runner VM, as the ARM JSON body (the wire format of docs/architecture.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runner_fleet import naming
from runner_fleet.ports.compute import VmSpec


@dataclass(frozen=True)
class OsDiskPlan:
    ephemeral_placement: str | None  # ResourceDisk | CacheDisk | NvmeDisk | None for a managed disk
    size_gb: int


def image_reference(image: str) -> dict[str, str]:
    if image.startswith("/"):
        return {"id": image}
    publisher, offer, sku, version = image.split(":")
    return {"publisher": publisher, "offer": offer, "sku": sku, "version": version}


def vm_body(spec: VmSpec, disk: OsDiskPlan, *, network_api_version: str) -> dict[str, Any]:
    """`network_api_version` is what Compute creates the inline NIC with (the cloud table's vm_network)."""
    azure = spec.pool.azure
    os_disk: dict[str, Any] = {
        "name": naming.os_disk_name(spec.name),
        "createOption": "FromImage",
        "diskSizeGB": disk.size_gb,
        "deleteOption": "Delete",
    }
    if disk.ephemeral_placement:
        os_disk |= {
            "caching": "ReadOnly",
            "diffDiskSettings": {"option": "Local", "placement": disk.ephemeral_placement},
        }
    else:
        os_disk |= {"caching": "ReadWrite", "managedDisk": {"storageAccountType": "StandardSSD_LRS"}}
    properties: dict[str, Any] = {
        "hardwareProfile": {"vmSize": spec.size},
        "storageProfile": {"imageReference": image_reference(azure.image), "osDisk": os_disk},
        "osProfile": {
            "computerName": spec.name,
            "adminUsername": azure.admin_username,
            "customData": spec.custom_data_b64,
            "linuxConfiguration": {
                "disablePasswordAuthentication": True,
                # Azure requires a key for Linux; ours has its private half discarded at start-up.
                "ssh": {
                    "publicKeys": [
                        {
                            "path": f"/home/{azure.admin_username}/.ssh/authorized_keys",
                            "keyData": spec.ssh_public_key,
                        }
                    ]
                },
                "provisionVMAgent": True,
            },
        },
        "networkProfile": {
            "networkApiVersion": network_api_version,
            "networkInterfaceConfigurations": [
                {
                    "name": naming.nic_name(spec.name),
                    "properties": {
                        "primary": True,
                        "deleteOption": "Delete",
                        "enableAcceleratedNetworking": False,
                        "ipConfigurations": [
                            # No publicIPAddressConfiguration: runners are reachable from nowhere.
                            {
                                "name": "ipconfig1",
                                "properties": {"subnet": {"id": azure.subnet_id}, "primary": True},
                            }
                        ],
                    },
                }
            ],
        },
        # Managed boot diagnostics (no storageUri): the serial log is where a runner says why it quit.
        "diagnosticsProfile": {"bootDiagnostics": {"enabled": True}},
    }
    if spec.spot:
        properties |= {"priority": "Spot", "evictionPolicy": "Delete", "billingProfile": {"maxPrice": -1}}
    # No "identity" key: a runner VM must hold no token a job could take.
    return {"location": azure.location, "tags": spec.tags, "properties": properties}
