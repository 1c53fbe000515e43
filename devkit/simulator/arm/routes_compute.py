"""HTTP handlers for Microsoft.Compute: VMs and their operations, resource SKUs, marketplace images.

`GET .../providers/Microsoft.Compute/skus`, the VM size catalogue: like Azure, the list has one entry
per size and location, and a size that the subscription may not use in a location is still listed
there, with a `restrictions` entry saying why. Where an ephemeral OS disk may go is
`SupportedEphemeralOSDiskPlacements` (comma-separated), the local NVMe disk's size
`NvmeDiskSizeInMiB`, as in the catalogue Azure returns for the v6 sizes.

`.../publishers/{p}/artifacttypes/vmimage/offers/{o}/skus/{s}/versions`, marketplace images: the list
answers a bare JSON array (as Azure does) and honours `$top` and `$orderby=name desc`, which is how a
client finds what `latest` means.
"""

from __future__ import annotations

import math
import re
from typing import Any

from aiohttp import web

from simulator.arm.config import ImageSpec, VmSize
from simulator.arm.errors import ArmError, invalid_parameter
from simulator.arm.ids import ResourceId
from simulator.arm.operations import AsyncOperation
from simulator.arm.routing import ArmCall, Router, json_response, page
from simulator.arm.state import ArmState
from simulator.arm.vms import COMPUTE, VirtualMachines

SUB = "/subscriptions/{sub}"
RG = SUB + "/resourceGroups/{rg}"
VMS = RG + "/providers/Microsoft.Compute/virtualMachines"
VM = VMS + "/{name}"
SUB_VMS = SUB + "/providers/Microsoft.Compute/virtualMachines"
_VMSS_FILTER = re.compile(r"^\s*virtualMachineScaleSet/id\s+eq\s+'(?P<id>[^']+)'\s*$", re.IGNORECASE)


def list_expand(call: ArmCall) -> tuple[str | None, str | None]:
    """($expand, scale set ID of $filter) of a VM list, refusing what the API does not document.

    `$expand=instanceView` "can only be specified if a valid $filter option is specified", and the
    only $filter documented is `virtualMachineScaleSet/id eq '...'` (VirtualMachines_List/_ListAll).
    """
    expand, expression = call.query("$expand"), call.query("$filter")
    scale_set = None
    if expression:
        match = _VMSS_FILTER.match(expression)
        if match is None:
            raise invalid_parameter(
                f"The $filter '{expression}' is not supported; "
                "only \"virtualMachineScaleSet/id eq '<id>'\" is.",
                "$filter",
            )
        scale_set = match["id"]
    if expand:
        if expand.strip().lower() != "instanceview":
            raise invalid_parameter(f"The value '{expand}' of parameter '$expand' is not valid.", "$expand")
        if scale_set is None:
            raise invalid_parameter(
                "The $expand option 'instanceView' can only be specified together with a valid "
                "$filter option.",
                "$expand",
            )
    return expand, scale_set


def poll_hint_ms(state: ArmState) -> str:
    return str(max(1, math.ceil(state.clock.real(state.config.timing.poll_interval_s) * 1000)))


def operation_headers(
    state: ArmState, call: ArmCall, op: AsyncOperation, *, location: bool
) -> dict[str, str]:
    url = f"{call.base_url}{op.path()}?api-version={call.api_version}"
    headers = {"Azure-AsyncOperation": url, "retry-after-ms": poll_hint_ms(state)}
    if location:
        headers["Location"] = f"{url}&monitor=true"
    return headers


def register(router: Router, state: ArmState) -> VirtualMachines:
    vms = VirtualMachines(state)

    def vm_id(call: ArmCall) -> ResourceId:
        p = call.params
        return ResourceId.resource(p["sub"], p["rg"], COMPUTE, "virtualMachines", p["name"])

    async def put_vm(call: ArmCall) -> web.StreamResponse:
        answer = vms.put(vm_id(call), call.json(), api_version=call.api_version)
        headers = operation_headers(state, call, answer.operation, location=False) if answer.operation else {}
        return json_response(answer.status, answer.body, headers)

    async def get_vm(call: ArmCall) -> web.StreamResponse:
        return json_response(200, vms.get(vm_id(call), expand=call.query("$expand")))

    async def delete_vm(call: ArmCall) -> web.StreamResponse:
        answer = vms.delete(vm_id(call))
        if answer.operation is None:
            return json_response(answer.status, None)
        return json_response(
            answer.status, None, operation_headers(state, call, answer.operation, location=True)
        )

    async def instance_view(call: ArmCall) -> web.StreamResponse:
        return json_response(200, vms.instance_view(vm_id(call)))

    async def boot_diagnostics(call: ArmCall) -> web.StreamResponse:
        return json_response(200, vms.boot_diagnostics(vm_id(call), call.base_url))

    async def list_vms(call: ArmCall) -> web.StreamResponse:
        sub, rg = call.params["sub"], call.params.get("rg")
        if rg is None and (call.query("statusOnly") or "").lower() == "true":  # the subscription's list
            items = vms.list_statuses(sub)
        else:
            expand, scale_set = list_expand(call)
            items = vms.list(sub, rg, expand=expand, scale_set=scale_set)
        return json_response(200, page(call, [(v["id"].lower(), v) for v in items], state.config.page_size))

    async def operation(call: ArmCall) -> web.StreamResponse:
        op = state.operation(call.params["sub"], call.params["op"])
        hint = {} if op.done else {"retry-after-ms": poll_hint_ms(state)}
        if (call.query("monitor") or "").lower() == "true":
            if not op.done:
                return json_response(202, None, {**hint, "Location": str(call.request.url)})
            if op.status != "Succeeded" and op.error is not None:
                raise ArmError(409 if op.status == "Canceled" else 500, op.error["code"], op.error["message"])
            return json_response(200, None)
        return json_response(200, op.body(), hint)

    async def skus(call: ArmCall) -> web.StreamResponse:
        state.require_subscription(call.params["sub"])
        location = parse_location_filter(call.query("$filter"))
        entries = sku_entries(state.config.sizes, state.locations, location)
        items: list[tuple[str, dict[str, Any]]] = [
            (f"{e['name'].lower()}|{e['locations'][0].lower()}", e) for e in entries
        ]
        return json_response(200, page(call, items, max(state.config.page_size, 1)))

    vm_type = "Microsoft.Compute/virtualMachines"
    router.add("PUT", VM, put_vm, resource_type=vm_type, compute_group="PutVM")
    router.add("GET", VM, get_vm, resource_type=vm_type, compute_group="LowCostGet")
    router.add("DELETE", VM, delete_vm, resource_type=vm_type, compute_group="DeleteVM")
    router.add("GET", VM + "/instanceView", instance_view, resource_type=vm_type, compute_group="LowCostGet")
    router.add(
        "POST",
        VM + "/retrieveBootDiagnosticsData",
        boot_diagnostics,
        resource_type=vm_type,
        compute_group="LowCostGet",
    )
    router.add("GET", VMS, list_vms, resource_type=vm_type, compute_group="HighCostGet")
    router.add("GET", SUB_VMS, list_vms, resource_type=vm_type, compute_group="HighCostGet")
    router.add(
        "GET",
        SUB + "/providers/Microsoft.Compute/locations/{loc}/operations/{op}",
        operation,
        resource_type="Microsoft.Compute/locations/operations",
    )
    router.add("GET", SUB + "/providers/Microsoft.Compute/skus", skus, resource_type="Microsoft.Compute/skus")
    _register_images(router, state)
    return vms


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


VERSIONS = (
    "/subscriptions/{sub}/providers/Microsoft.Compute/locations/{loc}/publishers/{publisher}"
    "/artifacttypes/vmimage/offers/{offer}/skus/{sku}/versions"
)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in version.split("."))


def _register_images(router: Router, state: ArmState) -> None:
    def image(call: ArmCall) -> ImageSpec:
        p = call.params
        state.require_subscription(p["sub"])
        for spec in state.config.images:
            if (spec.publisher.lower(), spec.offer.lower(), spec.sku.lower()) == (
                p["publisher"].lower(),
                p["offer"].lower(),
                p["sku"].lower(),
            ) and spec.offered_in(p["loc"], state.locations):
                return spec
        raise ArmError(404, "NotFound", "Artifact: VMImage was not found.")

    def entry(call: ArmCall, spec: ImageSpec, version: str) -> dict[str, Any]:
        p = call.params
        return {
            "name": version,
            "location": p["loc"],
            "id": (
                f"/Subscriptions/{p['sub']}/Providers/Microsoft.Compute/Locations/{p['loc']}/Publishers/"
                f"{spec.publisher}/ArtifactTypes/VMImage/Offers/{spec.offer}/Skus/{spec.sku}/Versions/{version}"
            ),
        }

    async def list_versions(call: ArmCall) -> web.StreamResponse:
        spec = image(call)
        versions = sorted(spec.versions, key=_version_key)
        if "desc" in (call.query("$orderby") or "").lower():
            versions.reverse()
        top = call.query("$top")
        if top:
            versions = versions[: max(0, int(top))]
        return json_response(200, [entry(call, spec, v) for v in versions])

    async def get_version(call: ArmCall) -> web.StreamResponse:
        spec = image(call)
        wanted = call.params["version"]
        if wanted.lower() == "latest":
            wanted = max(spec.versions, key=_version_key)
        if wanted not in spec.versions:
            raise ArmError(404, "NotFound", "Artifact: VMImage was not found.")
        body = entry(call, spec, wanted) | {
            "properties": {
                "osDiskImage": {"operatingSystem": "Linux", "sizeInGb": 30},
                "hyperVGeneration": "V2",
                "architecture": "x64",
                "dataDiskImages": [],
            }
        }
        return json_response(200, body)

    images = "Microsoft.Compute/locations/publishers/artifacttypes/offers/skus/versions"
    router.add("GET", VERSIONS, list_versions, resource_type=images)
    router.add("GET", VERSIONS + "/{version}", get_version, resource_type=images)
