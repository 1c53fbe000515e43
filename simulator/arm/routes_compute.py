"""HTTP handlers for Microsoft.Compute: VMs, their operations, disks and resource SKUs."""

from __future__ import annotations

import math
import re
from typing import Any

from aiohttp import web

from simulator.arm.errors import ArmError, invalid_parameter
from simulator.arm.ids import ResourceId
from simulator.arm.operations import AsyncOperation
from simulator.arm.paging import page
from simulator.arm.routing import ArmCall, Router, json_response
from simulator.arm.skus import parse_location_filter, sku_entries
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
        expand, scale_set = list_expand(call)
        items = vms.list(call.params["sub"], call.params["rg"], expand=expand, scale_set=scale_set)
        return json_response(200, page(call, [(v["id"].lower(), v) for v in items], state.config.page_size))

    async def list_all_vms(call: ArmCall) -> web.StreamResponse:
        if (call.query("statusOnly") or "").lower() == "true":
            items = vms.list_statuses(call.params["sub"])
        else:
            expand, scale_set = list_expand(call)
            items = vms.list(call.params["sub"], None, expand=expand, scale_set=scale_set)
        return json_response(200, page(call, [(v["id"].lower(), v) for v in items], state.config.page_size))

    async def operation(call: ArmCall) -> web.StreamResponse:
        op = state.ops.get(call.params["op"])
        if op is None or op.subscription.lower() != call.params["sub"].lower():
            raise ArmError(404, "NotFound", f"The operation '{call.params['op']}' was not found.")
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
    router.add("GET", SUB_VMS, list_all_vms, resource_type=vm_type, compute_group="HighCostGet")
    router.add(
        "GET",
        SUB + "/providers/Microsoft.Compute/locations/{loc}/operations/{op}",
        operation,
        resource_type="Microsoft.Compute/locations/operations",
    )
    router.add("GET", SUB + "/providers/Microsoft.Compute/skus", skus, resource_type="Microsoft.Compute/skus")
    return vms
