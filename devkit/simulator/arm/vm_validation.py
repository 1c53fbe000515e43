"""Validation of a VM PUT, with the error codes and messages ARM answers.

A rejected PUT creates nothing, so everything that can fail synchronously is checked here before
any resource is written; the result is a plan the create step carries out.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from dataclasses import dataclass
from typing import Any

from simulator.arm.api_versions import newer_or_equal
from simulator.arm.config import ArmConfig, VmSize
from simulator.arm.errors import ArmError, invalid_parameter, json_object
from simulator.arm.ids import ResourceId
from simulator.arm.store import ResourceStore
from simulator.arm.vm_network import NicPlan, checked_delete_option, network_plan

# osProfile.customData: "decoded to a binary array ... The maximum length of the binary array is
# 65535 bytes"; ARM checks the base64 text, whose limit (87380 characters) is exactly that many bytes.
MAX_CUSTOM_DATA_BYTES = 65535
MAX_CUSTOM_DATA_CHARS = 87380
NVME_MIN_API_VERSION = "2024-03-01"  # DiffDiskPlacement: "Minimum api-version for NvmeDisk: 2024-03-01"
MAX_NAME_LENGTH = 64
_VM_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_LINUX_HOST_FORBIDDEN = set("`~!@#$%^&*()=+_[]{}\\|;:'\",<>/?") | {" "}
_SSH_KEY_PREFIXES = (
    "ssh-rsa ",
    "ssh-ed25519 ",
    "ecdsa-sha2-nistp256 ",
    "ecdsa-sha2-nistp384 ",
    "ecdsa-sha2-nistp521 ",
)
CUSTOM_DATA_MESSAGE = (
    "Custom data in OSProfile must be in Base64 encoding and with a maximum length of 87380 characters."
)


@dataclass(frozen=True)
class OsDiskPlan:
    name: str
    ephemeral: bool
    placement: str | None
    managed: bool
    size_gb: int
    delete_option: str
    storage_account_type: str


@dataclass(frozen=True)
class VmPlan:
    location: str
    size: VmSize
    priority: str
    computer_name: str
    custom_data: str | None
    user_data: str | None
    nics: tuple[NicPlan, ...]
    os_disk: OsDiskPlan
    boot_diagnostics: bool


def plan_create(
    config: ArmConfig, store: ResourceStore, rid: ResourceId, body: Any, rg_location: str, *, api_version: str
) -> VmPlan:
    if not isinstance(body, dict):
        raise ArmError(
            400, "InvalidRequestContent", "The request content was invalid and could not be deserialized."
        )
    props = json_object(body.get("properties"), "properties")
    location = _location(config, body, rg_location)
    _check_vm_name(rid.name)
    size = _size(config, props, location, rid)
    priority = str(props.get("priority") or "Regular")
    if priority.lower() not in ("regular", "spot", "low"):
        raise invalid_parameter(f"The value '{priority}' of parameter 'priority' is not valid.", "priority")
    if priority.lower() != "regular" and not size.low_priority_capable:
        raise ArmError(
            409,
            "SkuNotAvailable",
            f"The requested VM size {size.name} is not available for Spot VMs in location '{location}'.",
            target="vmSize",
        )
    os_profile = json_object(props.get("osProfile"), "osProfile", required=True)
    computer_name = str(os_profile.get("computerName") or rid.name)
    _check_linux_host_name(computer_name)
    _check_linux_credentials(os_profile)
    custom_data = _custom_data(os_profile.get("customData"))
    user_data = props.get("userData")
    if user_data is not None and not _is_base64(str(user_data)):
        raise invalid_parameter("UserData must be in Base64 encoding.", "userData")
    os_disk = _os_disk(config, props, rid, size, api_version)
    nics = network_plan(store, props, rid, location)
    diagnostics = json_object(props.get("diagnosticsProfile"), "diagnosticsProfile")
    boot = json_object(diagnostics.get("bootDiagnostics"), "bootDiagnostics")
    return VmPlan(
        location=location,
        size=size,
        priority="Spot" if priority.lower() in ("spot", "low") else "Regular",
        computer_name=computer_name,
        custom_data=custom_data,
        user_data=None if user_data is None else str(user_data),
        nics=nics,
        os_disk=os_disk,
        boot_diagnostics=bool(boot.get("enabled", False)),
    )


def _location(config: ArmConfig, body: dict[str, Any], rg_location: str) -> str:
    location = body.get("location")
    if not location:
        raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
    known = {loc.lower(): loc for loc in config.topology.locations}
    canonical = known.get(str(location).lower().replace(" ", ""))
    if canonical is None:
        raise ArmError(
            400,
            "LocationNotAvailableForResourceType",
            f"The provided location '{location}' is not available for resource type "
            f"'Microsoft.Compute/virtualMachines'. List of available regions for the resource type is "
            f"'{','.join(config.topology.locations)}'.",
        )
    if config.require_rg_location and canonical.lower() != rg_location.lower():
        raise invalid_parameter(
            f"The location '{canonical}' of the virtual machine does not match the location "
            f"'{rg_location}' of its resource group.",
            "location",
        )
    return canonical


def _check_vm_name(name: str) -> None:
    if len(name) > MAX_NAME_LENGTH:
        raise invalid_parameter(
            f"The resource name '{name}' is invalid: virtual machine names can be at most "
            f"{MAX_NAME_LENGTH} characters long.",
            "vmName",
        )
    if not _VM_NAME.match(name) or name.endswith((".", "-")):
        raise invalid_parameter(
            f"The resource name '{name}' is invalid: it may contain letters, digits, '_', '.' and '-', "
            "must start with a letter, digit or '_' and must not end with '.' or '-'.",
            "vmName",
        )


def _check_linux_host_name(name: str) -> None:
    bad = (
        len(name) > MAX_NAME_LENGTH
        or any(c in _LINUX_HOST_FORBIDDEN or ord(c) < 32 for c in name)
        or name.endswith((".", "-"))
        or name.isdigit()
    )
    if bad:
        raise invalid_parameter(
            "Linux host name cannot exceed 64 characters in length or contain the following characters: "
            "` ~ ! @ # $ % ^ & * ( ) = + _ [ ] { } \\ | ; : ' \" , < > / ?.",
            "computerName",
        )


def _check_linux_credentials(os_profile: dict[str, Any]) -> None:
    if not os_profile.get("adminUsername"):
        raise invalid_parameter("Required parameter 'adminUsername' is missing (null).", "adminUsername")
    linux = json_object(os_profile.get("linuxConfiguration"), "linuxConfiguration")
    ssh = json_object(linux.get("ssh"), "ssh")
    keys = ssh.get("publicKeys") or []
    for key in keys:
        data = str((key or {}).get("keyData") or "")
        if not data.startswith(_SSH_KEY_PREFIXES):
            raise invalid_parameter(
                "The value of parameter linuxConfiguration.ssh.publicKeys.keyData is invalid.",
                "linuxConfiguration.ssh.publicKeys.keyData",
            )
    password = os_profile.get("adminPassword")
    password_allowed = not linux.get("disablePasswordAuthentication", False)
    if not keys and not (password and password_allowed):
        raise invalid_parameter(
            "Authentication using either SSH or by user name and password must be enabled in Linux profile.",
            "linuxConfiguration",
        )


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _custom_data(value: Any) -> str | None:
    if value is None or value == "":
        return None
    text = str(value)
    if len(text) > MAX_CUSTOM_DATA_CHARS or not _is_base64(text):
        raise invalid_parameter(CUSTOM_DATA_MESSAGE, "customData")
    if len(base64.b64decode(text)) > MAX_CUSTOM_DATA_BYTES:
        raise invalid_parameter(CUSTOM_DATA_MESSAGE, "customData")
    return text


def _size(config: ArmConfig, props: dict[str, Any], location: str, rid: ResourceId) -> VmSize:
    hardware = json_object(props.get("hardwareProfile"), "hardwareProfile", required=True)
    name = hardware.get("vmSize")
    if not name:
        raise invalid_parameter("Required parameter 'hardwareProfile.vmSize' is missing (null).", "vmSize")
    size = config.size(str(name))
    if size is None:
        offered = ",".join(s.name for s in config.sizes if s.offered_in(location, config.topology.locations))
        raise invalid_parameter(
            f"The value {name} provided for the VM size is not valid. The valid sizes in the current "
            f"region are: {offered}.",
            "vmSize",
        )
    if not size.offered_in(location, config.topology.locations):
        raise ArmError(
            409,
            "SkuNotAvailable",
            f"The requested size for resource '{rid}' is currently not available in location '{location}' "
            f"zones '' for subscription '{rid.subscription}'. Please try another size or deploy to a "
            "different location or zones. See https://aka.ms/azureskunotavailable for details.",
        )
    return size


def _os_disk(
    config: ArmConfig, props: dict[str, Any], rid: ResourceId, size: VmSize, api_version: str
) -> OsDiskPlan:
    storage = json_object(props.get("storageProfile"), "storageProfile", required=True)
    os_disk = json_object(storage.get("osDisk"), "osDisk")
    managed_disk = json_object(os_disk.get("managedDisk"), "managedDisk")
    delete_option = checked_delete_option(os_disk.get("deleteOption"))
    size_gb = int(os_disk.get("diskSizeGB") or config.default_os_disk_gb)
    diff = json_object(os_disk.get("diffDiskSettings"), "diffDiskSettings")
    managed = os_disk.get("vhd") is None
    name = str(os_disk.get("name") or f"{rid.name}_OsDisk_1_{uuid.uuid4().hex}")
    storage_type = str(managed_disk.get("storageAccountType") or "Premium_LRS")
    if not diff:
        return OsDiskPlan(name, False, None, managed, size_gb, delete_option, storage_type)

    if str(diff.get("option", "")).lower() != "local":
        raise invalid_parameter(
            "The value of parameter diffDiskSettings.option is invalid.", "diffDiskSettings.option"
        )
    if not size.ephemeral_os_disk_supported:
        raise ArmError(409, "NotSupported", f"Ephemeral OS disk is not supported for VM size {size.name}.")
    caching = os_disk.get("caching")
    if caching is not None and str(caching) != "ReadOnly":
        raise invalid_parameter(
            f"Caching '{caching}' is not supported for an ephemeral OS disk; use 'ReadOnly'.",
            "osDisk.caching",
        )
    if delete_option != "Delete" and os_disk.get("deleteOption") is not None:
        raise invalid_parameter(
            "An ephemeral OS disk is always deleted with the VM; deleteOption must be 'Delete'.",
            "osDisk.deleteOption",
        )
    placement = str(diff.get("placement") or _default_placement(size))
    if placement.lower() == "nvmedisk" and not newer_or_equal(api_version, NVME_MIN_API_VERSION):
        raise invalid_parameter(
            f"DiffDiskPlacement NvmeDisk requires api-version {NVME_MIN_API_VERSION} or later.",
            "diffDiskSettings.placement",
        )
    offered = {p.lower(): p for p in size.placements}
    if placement.lower() not in offered:
        raise ArmError(
            400,
            "NotSupported",
            f"DiffDiskPlacement {placement} is not supported for VM size {size.name}. "
            "Please refer to https://aka.ms/Ephemeral for more details.",
        )
    placement = offered[placement.lower()]
    capacity_gb = size.placement_capacity_gb(placement)
    if size_gb > capacity_gb:
        raise ArmError(
            400,
            "NotSupported",
            f"OS disk of Ephemeral VM with size greater than {capacity_gb} GB is not allowed for VM size "
            f"{size.name} when the DiffDiskPlacement is {placement}. "
            "Please refer to https://aka.ms/Ephemeral for more details.",
        )
    return OsDiskPlan(name, True, placement, True, size_gb, "Delete", "Standard_LRS")


def _default_placement(size: VmSize) -> str:
    """ "CacheDisk if one is configured for the VM size otherwise ResourceDisk or NvmeDisk"."""
    for placement in ("CacheDisk", "ResourceDisk", "NvmeDisk"):
        if placement in size.placements:
            return placement
    return "CacheDisk"
