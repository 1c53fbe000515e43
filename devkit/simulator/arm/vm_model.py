"""A VM's run-time state next to its stored ARM body, and how both are made and rendered.

The store keeps the VM's model view: what the PUT said with the fields Azure fills in (IDs, vmId,
disk names, NIC references) and without the secrets it never returns (customData, adminPassword,
userData), and its managed OS disk; the record keeps what changes underneath it: provisioning and
power state, the guest, the console, the timestamps.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from simulator.arm.ids import ResourceId
from simulator.arm.operations import AsyncOperation, iso, iso_or_none
from simulator.arm.store import Resource, arm_body
from simulator.arm.vm_validation import VmPlan

VM_TYPE = "Microsoft.Compute/virtualMachines"
DISK_TYPE = "Microsoft.Compute/disks"

_POWER_DISPLAY = {
    "starting": "VM starting",
    "running": "VM running",
    "stopping": "VM stopping",
    "stopped": "VM stopped",
    "deallocating": "VM deallocating",
    "deallocated": "VM deallocated",
}


@dataclass
class AttachedNic:
    id: ResourceId
    delete_option: str
    primary: bool
    created_inline: bool
    subnet_ids: tuple[str, ...] = ()
    private_ips: tuple[str, ...] = ()
    public_ip_id: ResourceId | None = None
    public_ip_delete_option: str = "Detach"


@dataclass
class PendingFailure:
    code: str
    message: str
    after_s: float | None


@dataclass
class VmRecord:
    id: ResourceId
    location: str
    size: str
    priority: str
    computer_name: str
    custom_data: str | None
    user_data: str | None
    ephemeral_os_disk: bool
    boot_diagnostics: bool
    nics: list[AttachedNic]
    os_disk_id: ResourceId | None
    os_disk_delete_option: str
    vm_id: str
    never_boot: bool
    console: deque[str]
    provisioning_state: str = "Creating"
    power_state: str | None = "starting"
    guest_state: str = "pending"
    failure: dict[str, Any] | None = None
    pending_failure: PendingFailure | None = None
    created_at: float = field(default_factory=time.time)
    provisioned_at: float | None = None
    booted_at: float | None = None
    registered_at: float | None = None
    powered_off_at: float | None = None
    delete_requested_at: float | None = None
    deleted_at: float | None = None
    operation: AsyncOperation | None = None  # the operation in flight (create, update or delete)
    runner: dict[str, Any] = field(default_factory=dict)
    api_server_check: str | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def name(self) -> str:
        return self.id.name

    @property
    def resource_group(self) -> str:
        return self.id.resource_group or ""

    def log(self, line: str) -> None:
        self.console.append(f"{iso(time.time())} {line}")

    def cancel_tasks(self) -> None:
        current = asyncio.current_task()
        for task in list(self.tasks):
            if task is not current:
                task.cancel()

    def snapshot(self, tags: dict[str, str] | None) -> dict[str, Any]:
        primary = next((n for n in self.nics if n.primary), self.nics[0] if self.nics else None)
        return {
            "name": self.name,
            "resource_group": self.resource_group,
            "subscription": self.id.subscription,
            "id": str(self.id),
            "location": self.location,
            "tags": dict(tags or {}),
            "size": self.size,
            "priority": self.priority,
            "provisioning_state": self.provisioning_state,
            "power_state": self.power_state,
            "guest_state": self.guest_state,
            "failure": dict(self.failure) if self.failure else None,
            "created_at": self.created_at,
            "provisioned_at": self.provisioned_at,
            "booted_at": self.booted_at,
            "registered_at": self.registered_at,
            "powered_off_at": self.powered_off_at,
            "delete_requested_at": self.delete_requested_at,
            "deleted_at": self.deleted_at,
            "ephemeral_os_disk": self.ephemeral_os_disk,
            "has_public_ip": any(n.public_ip_id is not None for n in self.nics),
            "subnet_id": primary.subnet_ids[0] if primary and primary.subnet_ids else None,
            "private_ip": primary.private_ips[0] if primary and primary.private_ips else None,
            "nic_ids": [str(n.id) for n in self.nics],
            "os_disk_id": str(self.os_disk_id) if self.os_disk_id else None,
            "never_boot": self.never_boot,
            "runner": dict(self.runner),
            "api_server_check": self.api_server_check,
        }


def render_vm(
    resource: Resource, record: VmRecord, *, instance_view: bool, user_data: bool
) -> dict[str, Any]:
    body = copy.deepcopy(resource.body)
    props = body.setdefault("properties", {})
    props["provisioningState"] = record.provisioning_state
    if user_data and record.user_data is not None:
        props["userData"] = record.user_data
    if instance_view:
        props["instanceView"] = render_instance_view(record)
    body["etag"] = resource.etag
    return body


def render_status_only(resource: Resource, record: VmRecord) -> dict[str, Any]:
    """A VM as `statusOnly=true` lists it: identity and instance view statuses, no model (no tags)."""
    return {
        "name": resource.id.name,
        "id": str(resource.id),
        "type": VM_TYPE,
        "location": record.location,
        "properties": {"vmId": record.vm_id, "instanceView": {"statuses": statuses(record)}},
    }


def render_instance_view(record: VmRecord) -> dict[str, Any]:
    view: dict[str, Any] = {
        "computerName": record.computer_name,
        "osName": "ubuntu",
        "osVersion": "22.04",
        "hyperVGeneration": "V2",
        "vmAgent": _agent_status(record),
        "statuses": statuses(record),
    }
    if record.boot_diagnostics:
        view["bootDiagnostics"] = {}
    return view


def statuses(record: VmRecord) -> list[dict[str, Any]]:
    state = record.provisioning_state
    stamp = iso(record.provisioned_at or record.created_at)
    if state == "Failed" and record.failure:
        provisioning = {
            "code": f"ProvisioningState/failed/{record.failure['code']}",
            "level": "Error",
            "displayStatus": "Provisioning failed",
            "message": record.failure["message"],
            "time": stamp,
        }
    else:
        provisioning = {
            "code": f"ProvisioningState/{state.lower()}",
            "level": "Info",
            "displayStatus": f"Provisioning {state.lower()}" if state == "Succeeded" else state,
            "time": stamp,
        }
    found = [provisioning]
    if record.power_state is not None:
        found.append(
            {
                "code": f"PowerState/{record.power_state}",
                "level": "Info",
                "displayStatus": _POWER_DISPLAY.get(record.power_state, record.power_state),
            }
        )
    return found


def _agent_status(record: VmRecord) -> dict[str, Any]:
    if record.booted_at is not None and record.power_state == "running":
        status = {
            "code": "ProvisioningState/succeeded",
            "level": "Info",
            "displayStatus": "Ready",
            "message": "GuestAgent is running and processing the extensions.",
            "time": iso_or_none(record.booted_at),
        }
    else:
        status = {
            "code": "ProvisioningState/Unavailable",
            "level": "Warning",
            "displayStatus": "Not Ready",
            "message": "VM Agent is unresponsive.",
        }
    return {"vmAgentVersion": "2.10.0.8" if record.booted_at else "Unknown", "statuses": [status]}


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
    storage = plan.os_disk.storage_account_type
    properties = {
        "osType": "Linux",
        "hyperVGeneration": "V2",
        "creationData": {"createOption": "FromImage"},
        "diskSizeGB": plan.os_disk.size_gb,
        "provisioningState": "Succeeded",
        "diskState": "Attached",
        "timeCreated": iso(time.time()),
    }
    sku = {"name": storage, "tier": storage.split("_")[0]}
    return arm_body(disk_id, DISK_TYPE, properties, location=plan.location, managedBy=str(vm), sku=sku)
