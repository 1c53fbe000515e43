"""The `Compute` port on Azure Resource Manager (azure-mgmt-compute, async)."""

from __future__ import annotations

from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.compute.aio import ComputeManagementClient
from azure.mgmt.compute.models import VirtualMachine

from runner_fleet.adapters.azure.clients import ArmClients, ArmConnection
from runner_fleet.adapters.azure.skus import SkuCatalog
from runner_fleet.adapters.azure.vm_body import OsDiskPlan, vm_body
from runner_fleet.logs import get_logger
from runner_fleet.ports.compute import MANAGED_BY, TAG_MANAGED_BY, VmCreateRejected, VmInfo, VmSpec
from runner_fleet.retry import with_retries
from runner_fleet.settings.pool import Pool

log = get_logger("azure.compute")

# Errors where another size or on-demand priority may succeed (DESIGN.md: capacity and quota).
CAPACITY_CODES = frozenset(
    {
        "SkuNotAvailable",
        "AllocationFailed",
        "ZonalAllocationFailed",
        "OverconstrainedAllocationRequest",
        "OperationNotAllowed",
        "QuotaExceeded",
    }
)


class AzureCompute:
    def __init__(self, connection: ArmConnection) -> None:
        self._clients = ArmClients(connection)
        self._skus = SkuCatalog()

    def _client(self, subscription: str) -> ComputeManagementClient:
        return self._clients.get(ComputeManagementClient, subscription)

    async def get_vm(self, pool: Pool, name: str) -> VmInfo | None:
        return await with_retries(lambda: self._get_vm(pool, name), what="get_vm")

    async def _get_vm(self, pool: Pool, name: str) -> VmInfo | None:
        client = self._client(pool.azure.subscription_id)
        try:
            vm = await client.virtual_machines.get(pool.azure.resource_group, name, expand="instanceView")
        except ResourceNotFoundError:
            return None
        return _info(vm, pool.azure.resource_group)

    async def create_vm(self, spec: VmSpec) -> VmInfo:
        return await with_retries(lambda: self._create_vm(spec), what="create_vm")

    async def _create_vm(self, spec: VmSpec) -> VmInfo:
        azure = spec.pool.azure
        client = self._client(azure.subscription_id)
        disk = await self._disk_plan(client, spec)
        body = VirtualMachine(vm_body(spec, disk))  # the model keeps the ARM JSON as given
        try:
            poller = await client.virtual_machines.begin_create_or_update(
                azure.resource_group, spec.name, body
            )
            vm = await poller.result()
        except HttpResponseError as exc:
            code = _error_code(exc)
            if code in CAPACITY_CODES:
                # A create that failed after acceptance leaves a Failed VM; clear it for the next size.
                await self._delete_vm(spec.pool, spec.name)
                raise VmCreateRejected(code, _error_message(exc)) from None
            raise
        return _info(vm, azure.resource_group)

    async def _disk_plan(self, client: ComputeManagementClient, spec: VmSpec) -> OsDiskPlan:
        azure = spec.pool.azure
        if azure.os_disk != "ephemeral":
            return OsDiskPlan(None, azure.os_disk_size_gb)
        facts = await self._skus.size(client, azure.subscription_id, azure.location, spec.size)
        placement = facts.ephemeral_placement(azure.os_disk_size_gb) if facts else None
        if placement is None:
            log.info("vm.ephemeral_disk_not_possible", pool=spec.pool.name, size=spec.size, runner=spec.name)
        return OsDiskPlan(placement, azure.os_disk_size_gb)

    async def delete_vm(self, pool: Pool, name: str) -> bool:
        return await with_retries(lambda: self._delete_vm(pool, name), what="delete_vm")

    async def _delete_vm(self, pool: Pool, name: str) -> bool:
        client = self._client(pool.azure.subscription_id)
        try:
            # ARM answers 204 to deleting a VM that is gone, so only a read tells whether there was one.
            await client.virtual_machines.get(pool.azure.resource_group, name)
            poller = await client.virtual_machines.begin_delete(pool.azure.resource_group, name)
            await poller.result()
        except ResourceNotFoundError:
            return False
        return True

    async def list_vms(self, pools: list[Pool]) -> list[VmInfo]:
        return await with_retries(lambda: self._list_vms(pools), what="list_vms")

    async def _list_vms(self, pools: list[Pool]) -> list[VmInfo]:
        seen: set[tuple[str, str]] = set()
        found: list[VmInfo] = []
        for pool in pools:
            key = (pool.azure.subscription_id, pool.azure.resource_group.lower())
            if key in seen:
                continue
            seen.add(key)
            client = self._client(pool.azure.subscription_id)
            # The instance view carries the power state: a powered-off runner VM has finished.
            async for vm in client.virtual_machines.list(pool.azure.resource_group, expand="instanceView"):
                if (vm.tags or {}).get(TAG_MANAGED_BY) == MANAGED_BY:
                    found.append(_info(vm, pool.azure.resource_group))
        return found

    async def close(self) -> None:
        await self._clients.close()


def _info(vm: Any, resource_group: str) -> VmInfo:
    power = None
    view = getattr(vm, "instance_view", None)
    for status in getattr(view, "statuses", None) or []:
        if (status.code or "").startswith("PowerState/"):
            power = status.code.split("/", 1)[1]
    return VmInfo(
        name=vm.name,
        resource_group=resource_group,
        size=vm.hardware_profile.vm_size if vm.hardware_profile else "",
        tags=dict(vm.tags or {}),
        provisioning_state=vm.provisioning_state or "",
        power_state=power,
        created_at=getattr(vm, "time_created", None),
    )


def _error_code(exc: HttpResponseError) -> str:
    error = getattr(exc, "error", None)
    return str(getattr(error, "code", None) or "")


def _error_message(exc: HttpResponseError) -> str:
    error = getattr(exc, "error", None)
    return str(getattr(error, "message", None) or exc.reason or "")
