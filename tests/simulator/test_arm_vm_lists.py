"""VM lists as the Compute API documents them, and PUTs on a VM being deleted."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute import models as cm
from azure.mgmt.compute.aio import ComputeManagementClient

from simulator.arm import DEFAULT_SUBSCRIPTION_ID, ArmSimulator
from simulator.arm.samples import runner_vm_body as runner_vm_json

RG = "rg-runners"
Eventually = Callable[..., Awaitable[Any]]
SCALE_SET = (
    f"/subscriptions/{DEFAULT_SUBSCRIPTION_ID}/resourceGroups/{RG}/providers/Microsoft.Compute"
    "/virtualMachineScaleSets/vmss-none"
)


async def create(compute: ComputeManagementClient, name: str, **options: Any) -> Any:
    body = cm.VirtualMachine(runner_vm_json(name, **options))
    return await (await compute.virtual_machines.begin_create_or_update(RG, name, body)).result()


async def test_list_with_instance_view_needs_a_filter(compute: ComputeManagementClient) -> None:
    """Rule arm.vm.list-expand-needs-filter: `$expand=instanceView` on a VM list without a valid
    `$filter` is refused with 400 InvalidParameter, in a resource group and in the subscription."""
    for listing in (
        compute.virtual_machines.list(RG, expand="instanceView"),
        compute.virtual_machines.list_all(expand="instanceView"),
    ):
        with pytest.raises(HttpResponseError) as caught:
            [vm async for vm in listing]
        assert caught.value.status_code == 400
        assert caught.value.error is not None
        assert (caught.value.error.code, caught.value.error.target) == ("InvalidParameter", "$expand")


async def test_list_with_a_scale_set_filter_may_expand(compute: ComputeManagementClient) -> None:
    """Rule arm.vm.list-expand-needs-filter: with the documented scale set `$filter` the expand is served;
    a standalone VM is in no scale set, so it is not listed."""
    await create(compute, "vm-solo")
    listed = compute.virtual_machines.list(
        RG, expand="instanceView", filter=f"virtualMachineScaleSet/id eq '{SCALE_SET}'"
    )
    assert [vm async for vm in listed] == []


async def test_an_undocumented_filter_is_refused(compute: ComputeManagementClient) -> None:
    """Rule arm.vm.list-expand-needs-filter: a `$filter` other than the scale set one is refused (400)."""
    with pytest.raises(HttpResponseError) as caught:
        [vm async for vm in compute.virtual_machines.list(RG, filter="tagName eq 'pool'")]
    assert caught.value.status_code == 400


async def test_status_only_lists_power_states_without_the_model(
    sim: ArmSimulator, compute: ComputeManagementClient
) -> None:
    """Rule arm.vm.status-only: `statusOnly=true` on the subscription list gives every VM's statuses
    but no model: no tags, no hardware profile."""
    await create(compute, "vm-status", tags={"managed-by": "runner-fleet"})
    (vm,) = [vm async for vm in compute.virtual_machines.list_all(status_only="true")]
    assert vm.name == "vm-status" and not vm.tags and vm.hardware_profile is None
    assert [s.code for s in vm.instance_view.statuses] == [
        "ProvisioningState/succeeded",
        "PowerState/running",
    ]


async def test_put_on_a_vm_being_deleted_is_refused(
    sim: ArmSimulator, compute: ComputeManagementClient, eventually: Eventually
) -> None:
    """Rule arm.vm.put-while-deleting: a PUT on a VM whose delete is under way answers 409
    OperationNotAllowed "... marked for deletion ..." and changes nothing."""
    sim.configure(delete_s=30.0)
    await create(compute, "vm-going")
    deleting = asyncio.ensure_future((await compute.virtual_machines.begin_delete(RG, "vm-going")).result())
    await eventually(lambda: (sim.vm("vm-going") or {}).get("provisioning_state") == "Deleting")
    with pytest.raises(HttpResponseError) as caught:
        await compute.virtual_machines.begin_create_or_update(
            RG, "vm-going", cm.VirtualMachine(runner_vm_json("vm-going"))
        )
    assert caught.value.status_code == 409
    assert caught.value.error is not None
    assert caught.value.error.code == "OperationNotAllowed"
    assert "is marked for deletion" in (caught.value.error.message or "")
    await deleting
    assert sim.vms() == []
