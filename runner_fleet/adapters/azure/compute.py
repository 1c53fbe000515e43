"""The `Compute` port on Azure Resource Manager (azure-mgmt-compute, async).

Every call sends the API version the connection's cloud table pins. Power states come from the
documented calls only: `virtual_machines.list` carries no instance view (`$expand=instanceView` is
documented only together with a `$filter`), so each listed VM that is provisioned gets its own
`instance_view` read. The alternative, one `list_all(statusOnly=true)` per subscription, needs
read access on the whole subscription, which the provisioner's least-privilege role (scoped to the
runner resource group) does not have, and returns no tags.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import replace
from typing import Any

import aiohttp
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.mgmt.compute.aio import ComputeManagementClient
from azure.mgmt.compute.models import VirtualMachine

from runner_fleet.adapters.azure.arm_errors import (
    capacity_error,
    error_code,
    error_message,
    is_capacity_refusal,
    is_marked_for_deletion,
)
from runner_fleet.adapters.azure.clients import ArmClients, ArmConnection
from runner_fleet.adapters.azure.retry import is_throttle, retry_after_s, with_retries
from runner_fleet.adapters.azure.skus import SkuCatalog
from runner_fleet.adapters.azure.vm_body import OsDiskPlan, vm_body
from runner_fleet.logs import get_logger
from runner_fleet.ports.compute import (
    MANAGED_BY,
    TAG_MANAGED_BY,
    CreateFailure,
    StillWanted,
    VmBeingDeleted,
    VmCreateRejected,
    VmCreateThrottled,
    VmInfo,
    VmNoLongerWanted,
    VmSpec,
)
from runner_fleet.settings.pool import Pool

log = get_logger("azure.compute")

# How long creates wait after a 429 that named no Retry-After.
THROTTLE_DEFAULT_S = 10.0
# Instance views read at once while listing: enough to keep a round short, few enough not to burst.
INSTANCE_VIEW_CONCURRENCY = 8
# retrieveBootDiagnosticsData hands out SAS URIs valid for 1 to 1440 minutes (120 by default). A
# probe reads one VM's log every few seconds for minutes: one URI is asked for and reused until
# shortly before it ends, so the reads cost Resource Manager one POST, not one each.
SERIAL_LOG_SAS_MINUTES = 60
SERIAL_LOG_REUSE_S = SERIAL_LOG_SAS_MINUTES * 60 - 300
# What is kept of a serial log: its end, where the lines of a recent boot are.
SERIAL_LOG_MAX_BYTES = 4 * 1024 * 1024


class AzureCompute:
    def __init__(self, connection: ArmConnection) -> None:
        self._clients = ArmClients(connection)
        self._versions = connection.api_versions
        self._poll_s = connection.polling_interval_s
        self._skus = SkuCatalog(self._versions.resource_skus)
        self._throttled_until = 0.0  # monotonic; shared by this process's creates
        self._ca_bundle = connection.ca_bundle
        self._blobs: aiohttp.ClientSession | None = None
        # (subscription, resource group, VM) -> (serial log SAS URI, monotonic time to stop using it)
        self._log_uris: dict[tuple[str, str, str], tuple[str, float]] = {}

    def _client(self, subscription: str) -> ComputeManagementClient:
        return self._clients.get(ComputeManagementClient, subscription)

    async def get_vm(self, pool: Pool, name: str) -> VmInfo | None:
        return await with_retries(lambda: self._get_vm(pool, name), what="get_vm")

    async def _get_vm(self, pool: Pool, name: str) -> VmInfo | None:
        client = self._client(pool.azure.subscription_id)
        try:
            vm = await client.virtual_machines.get(
                pool.azure.resource_group, name, expand="instanceView", api_version=self._versions.compute
            )
        except ResourceNotFoundError:
            return None
        view = getattr(vm, "instance_view", None)
        return replace(_info(vm, pool.azure.resource_group, _power_state(view)), failure=_failure(view))

    def throttled_for(self) -> float:
        return max(0.0, self._throttled_until - time.monotonic())

    async def start_create(self, spec: VmSpec, *, still_wanted: StillWanted | None = None) -> VmInfo:
        wait = self.throttled_for()
        if wait > 0:
            raise VmCreateThrottled(wait)
        attempts = 0

        async def attempt() -> VmInfo:
            # The caller read the VM as absent just before; only a retry of a failed PUT may meet one.
            nonlocal attempts
            attempts += 1
            return await self._start_create(spec, still_wanted, retried=attempts > 1)

        return await with_retries(attempt, what="start_create", retry_throttles=False)

    async def _start_create(self, spec: VmSpec, still_wanted: StillWanted | None, *, retried: bool) -> VmInfo:
        azure = spec.pool.azure
        client = self._client(azure.subscription_id)
        # Never PUT onto a VM being deleted (a retried PUT meets the delete of an earlier attempt's
        # failed VM): the caller comes back once it is gone instead of holding a worker meanwhile.
        if retried:
            await self._refuse_if_deleting(client, spec)
        disk = await self._disk_plan(client, spec)
        if still_wanted is not None and not await still_wanted():
            # A PUT answered 504 may have made the VM, whose runner then ran its job, and a release
            # deleted it: retrying blindly would make it again, for a job already over.
            raise VmNoLongerWanted(f"VM {spec.name} is no longer wanted; not creating it")
        body = VirtualMachine(vm_body(spec, disk, network_api_version=self._versions.vm_network))
        try:
            # Only the PUT: its poller is never awaited, the VM's state is read again later.
            await client.virtual_machines.begin_create_or_update(
                azure.resource_group, spec.name, body, api_version=self._versions.compute
            )
        except HttpResponseError as exc:
            if is_throttle(exc):
                # Every create of this process would be refused until then: remember it, so they wait
                # without spending a runner registration each on a refused PUT.
                wait = retry_after_s(exc) or THROTTLE_DEFAULT_S
                self._throttled_until = max(self._throttled_until, time.monotonic() + wait)
                raise VmCreateThrottled(wait) from None
            if is_marked_for_deletion(error_code(exc), error_message(exc)):
                # A delete began between the check and the PUT: ARM refused it, nothing was changed.
                raise VmBeingDeleted(f"VM {spec.name} is being deleted; not creating over it") from None
            refusal = capacity_error(exc)
            if refusal is not None:
                raise VmCreateRejected(*refusal) from None
            raise
        return VmInfo(
            name=spec.name,
            resource_group=azure.resource_group,
            size=spec.size,
            tags=dict(spec.tags),
            provisioning_state="Creating",
        )

    async def _refuse_if_deleting(self, client: ComputeManagementClient, spec: VmSpec) -> None:
        azure = spec.pool.azure
        try:
            vm = await client.virtual_machines.get(
                azure.resource_group, spec.name, api_version=self._versions.compute
            )
        except ResourceNotFoundError:
            return
        if (vm.provisioning_state or "") == "Deleting":
            raise VmBeingDeleted(f"VM {spec.name} is being deleted; not creating over it")

    async def _disk_plan(self, client: ComputeManagementClient, spec: VmSpec) -> OsDiskPlan:
        azure = spec.pool.azure
        if azure.os_disk != "ephemeral":
            return OsDiskPlan(None, azure.os_disk_size_gb)
        facts = await self._skus.size(client, azure.subscription_id, azure.location, spec.size)
        placement = facts.ephemeral_placement(azure.os_disk_size_gb) if facts else None
        if placement is None:
            log.info("vm.ephemeral_disk_not_possible", pool=spec.pool.name, size=spec.size, runner=spec.name)
        return OsDiskPlan(placement, azure.os_disk_size_gb)

    async def delete_vm(self, pool: Pool, name: str, *, wait: bool = True) -> bool:
        return await with_retries(lambda: self._delete_vm(pool, name, wait), what="delete_vm")

    async def _delete_vm(self, pool: Pool, name: str, wait: bool = True) -> bool:
        client = self._client(pool.azure.subscription_id)
        version = self._versions.compute
        try:
            # ARM answers 204 to deleting a VM that is gone, so only a read tells whether there was one.
            await client.virtual_machines.get(pool.azure.resource_group, name, api_version=version)
            poller = await client.virtual_machines.begin_delete(
                pool.azure.resource_group, name, api_version=version
            )
            if wait:
                await poller.result()
        except ResourceNotFoundError:
            return False
        return True

    async def list_vms(self, pools: list[Pool]) -> list[VmInfo]:
        return await with_retries(lambda: self._list_vms(pools), what="list_vms")

    async def _list_vms(self, pools: list[Pool]) -> list[VmInfo]:
        """One list per resource group, then one instance view per provisioned VM of ours.

        A round costs 1 + N reads for N provisioned runner VMs (a VM being created, deleted or
        failed needs no power state: its provisioning state already says what it is).
        """
        seen: set[tuple[str, str]] = set()
        found: list[VmInfo] = []
        for pool in pools:
            key = (pool.azure.subscription_id, pool.azure.resource_group.lower())
            if key in seen:
                continue
            seen.add(key)
            client = self._client(pool.azure.subscription_id)
            group = pool.azure.resource_group
            ours = [
                vm
                async for vm in client.virtual_machines.list(group, api_version=self._versions.compute)
                if (vm.tags or {}).get(TAG_MANAGED_BY) == MANAGED_BY
            ]
            found += await self._with_power_states(client, group, ours)
        return found

    async def _with_power_states(
        self, client: ComputeManagementClient, group: str, vms: list[Any]
    ) -> list[VmInfo]:
        gate = asyncio.Semaphore(INSTANCE_VIEW_CONCURRENCY)

        async def one(vm: Any) -> VmInfo | None:
            if (vm.provisioning_state or "") != "Succeeded":
                return _info(vm, group, None)
            async with gate:
                try:
                    view = await client.virtual_machines.instance_view(
                        group, vm.name, api_version=self._versions.compute
                    )
                except ResourceNotFoundError:
                    return None  # deleted since it was listed
            return _info(vm, group, _power_state(view))

        return [info for info in await asyncio.gather(*(one(vm) for vm in vms)) if info is not None]

    async def serial_log(self, pool: Pool, name: str) -> str | None:
        """The serial log blob boot diagnostics keep, read through the SAS URI Azure hands out.

        The URI grants read access to the log: it is never logged. A blob not written yet (404) is
        None; an expired or refused URI (403) is asked for again once.
        """
        for _ in range(2):
            uri = await self._serial_log_uri(pool, name)
            if uri is None:
                return None
            status, text = await self._read_blob(uri)
            if status == 200:
                return text
            self._log_uris.pop(self._log_key(pool, name), None)
            if status != 403:
                return None
        return None

    def _log_key(self, pool: Pool, name: str) -> tuple[str, str, str]:
        azure = pool.azure
        return azure.subscription_id.lower(), azure.resource_group.lower(), name.lower()

    async def _serial_log_uri(self, pool: Pool, name: str) -> str | None:
        key = self._log_key(pool, name)
        cached = self._log_uris.get(key)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        client = self._client(pool.azure.subscription_id)

        async def retrieve() -> Any:
            return await client.virtual_machines.retrieve_boot_diagnostics_data(
                pool.azure.resource_group,
                name,
                sas_uri_expiration_time_in_minutes=SERIAL_LOG_SAS_MINUTES,
                api_version=self._versions.compute,
            )

        try:
            data = await with_retries(retrieve, what="retrieve_boot_diagnostics_data")
        except ResourceNotFoundError:
            return None
        except ResourceExistsError:
            # 409 OperationNotAllowed: boot diagnostics are off, or the VM is not far enough along.
            return None
        uri = getattr(data, "serial_console_log_blob_uri", None)
        if not uri:
            return None
        self._log_uris[key] = (uri, time.monotonic() + SERIAL_LOG_REUSE_S)
        return str(uri)

    async def _read_blob(self, uri: str) -> tuple[int, str]:
        if self._blobs is None:
            context = ssl.create_default_context(cafile=self._ca_bundle) if self._ca_bundle else None
            self._blobs = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=30),
                connector=aiohttp.TCPConnector(ssl=context) if context is not None else None,
            )
        try:
            async with self._blobs.get(uri) as resp:
                if resp.status != 200:
                    return resp.status, ""
                kept = bytearray()
                async for chunk in resp.content.iter_chunked(64 * 1024):
                    kept += chunk
                    if len(kept) > SERIAL_LOG_MAX_BYTES:
                        del kept[: len(kept) - SERIAL_LOG_MAX_BYTES]
                return 200, kept.decode("utf-8", errors="replace")
        except aiohttp.ClientError as exc:
            # The exception text may quote the URI, and with it the SAS signature: only its type.
            raise ConnectionError(f"reading the serial log failed: {type(exc).__name__}") from None

    async def close(self) -> None:
        self._log_uris.clear()
        if self._blobs is not None:
            await self._blobs.close()
            self._blobs = None
        await self._clients.close()


def _power_state(view: Any) -> str | None:
    power = None
    for status in getattr(view, "statuses", None) or []:
        if (status.code or "").startswith("PowerState/"):
            power = status.code.split("/", 1)[1]
    return power


_FAILED_PREFIX = "ProvisioningState/failed/"


def _failure(view: Any) -> CreateFailure | None:
    """Why a create failed after it was accepted, from the instance view's provisioning status."""
    for status in getattr(view, "statuses", None) or []:
        code = status.code or ""
        if code.startswith(_FAILED_PREFIX):
            reason = code[len(_FAILED_PREFIX) :]
            message = status.message or ""
            return CreateFailure(reason, message, is_capacity_refusal(reason, message))
    return None


def _info(vm: Any, resource_group: str, power_state: str | None) -> VmInfo:
    return VmInfo(
        name=vm.name,
        resource_group=resource_group,
        size=vm.hardware_profile.vm_size if vm.hardware_profile else "",
        tags=dict(vm.tags or {}),
        provisioning_state=vm.provisioning_state or "",
        power_state=power_state,
        created_at=getattr(vm, "time_created", None),
        priority=getattr(vm, "priority", None),
    )
