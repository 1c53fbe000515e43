"""What the store keeps for a new VM and its managed OS disk: the PUT's model view with the
fields Azure fills in (IDs, vmId, disk names, NIC references) and without the secrets it never
returns (customData, adminPassword, userData)."""

from __future__ import annotations

import copy
import time
from typing import Any

from simulator.arm.ids import ResourceId
from simulator.arm.timefmt import iso
from simulator.arm.vm_model import VM_TYPE, VmRecord
from simulator.arm.vm_validation import VmPlan

DISK_TYPE = "Microsoft.Compute/disks"


def vm_body(rid: ResourceId, request: dict[str, Any], plan: VmPlan, record: VmRecord) -> dict[str, Any]:
    body = copy.deepcopy(request)
    body.update(id=str(rid), name=rid.name, type=VM_TYPE, location=plan.location)
    body.setdefault("tags", {})
    props = body.setdefault("properties", {})
    props.pop("userData", None)
    props.pop("provisioningState", None)
    props.pop("instanceView", None)
    props["vmId"] = record.vm_id
    props["timeCreated"] = iso(record.created_at)
    props["hardwareProfile"]["vmSize"] = plan.size.name
    if plan.priority == "Spot":
        props["priority"] = "Spot"
        props.setdefault("evictionPolicy", "Deallocate")
    os_profile = props["osProfile"]
    os_profile.pop("customData", None)  # Azure never returns these
    os_profile.pop("adminPassword", None)
    os_profile["computerName"] = plan.computer_name
    os_profile.setdefault("secrets", [])
    os_profile.setdefault("allowExtensionOperations", True)
    os_profile.setdefault("requireGuestProvisionSignal", True)
    linux = os_profile.setdefault("linuxConfiguration", {})
    linux.setdefault("disablePasswordAuthentication", "ssh" in linux)
    linux.setdefault("provisionVMAgent", True)
    os_disk = props["storageProfile"].setdefault("osDisk", {})
    os_disk.update(
        osType="Linux",
        name=plan.os_disk.name,
        createOption=os_disk.get("createOption", "FromImage"),
        caching=os_disk.get("caching", "ReadOnly" if plan.os_disk.ephemeral else "ReadWrite"),
        diskSizeGB=plan.os_disk.size_gb,
        deleteOption=plan.os_disk.delete_option,
    )
    if plan.os_disk.ephemeral:
        os_disk["diffDiskSettings"] = {"option": "Local", "placement": plan.os_disk.placement}
    if plan.os_disk.managed:
        managed = os_disk.setdefault("managedDisk", {})
        managed.setdefault("storageAccountType", plan.os_disk.storage_account_type)
        if record.os_disk_id is not None:
            managed["id"] = str(record.os_disk_id)
    network = props["networkProfile"]
    network["networkInterfaces"] = [
        {"id": str(nic.id), "properties": {"primary": nic.primary, "deleteOption": nic.delete_option}}
        for nic in record.nics
    ]
    return body


def disk_body(disk_id: ResourceId, plan: VmPlan, vm: ResourceId) -> dict[str, Any]:
    return {
        "name": disk_id.name,
        "id": str(disk_id),
        "type": DISK_TYPE,
        "location": plan.location,
        "managedBy": str(vm),
        "sku": {
            "name": plan.os_disk.storage_account_type,
            "tier": plan.os_disk.storage_account_type.split("_")[0],
        },
        "properties": {
            "osType": "Linux",
            "hyperVGeneration": "V2",
            "creationData": {"createOption": "FromImage"},
            "diskSizeGB": plan.os_disk.size_gb,
            "provisioningState": "Succeeded",
            "diskState": "Attached",
            "timeCreated": iso(time.time()),
        },
    }
