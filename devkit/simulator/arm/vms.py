"""Microsoft.Compute/virtualMachines: create (one PUT with inline NIC), update, delete, read.

Creation and deletion are long-running: the PUT/DELETE answer at once and a background task
moves the VM through its states while the SDK polls the operation.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any

from simulator.arm.boot import run_guest
from simulator.arm.config import VmSize
from simulator.arm.errors import ArmError, resource_not_found
from simulator.arm.ids import ResourceId
from simulator.arm.network import allocate_addresses, attach, nic_body, public_ip_body
from simulator.arm.operations import AsyncOperation
from simulator.arm.state import ArmState
from simulator.arm.store import Resource
from simulator.arm.vm_model import (
    VM_TYPE,
    AttachedNic,
    PendingFailure,
    VmRecord,
    disk_body,
    render_instance_view,
    render_status_only,
    render_vm,
    vm_body,
)
from simulator.arm.vm_network import NicPlan
from simulator.arm.vm_validation import VmPlan, plan_create

COMPUTE = "Microsoft.Compute"


@dataclass
class Answer:
    status: int
    body: dict[str, Any] | None = None
    operation: AsyncOperation | None = None


class VirtualMachines:
    def __init__(self, state: ArmState) -> None:
        self._state = state

    # --- reads -------------------------------------------------------------------------------

    def get(self, rid: ResourceId, *, expand: str | None = None) -> dict[str, Any]:
        resource, record = self._require(rid)
        return self._render(resource, record, expand)

    def instance_view(self, rid: ResourceId) -> dict[str, Any]:
        _, record = self._require(rid)
        return render_instance_view(record)

    def list_statuses(self, subscription: str) -> list[dict[str, Any]]:
        """`statusOnly=true`: the run-time status of every VM of the subscription, without the model."""
        return [render_status_only(resource, record) for resource, record in self._listed(subscription, None)]

    def _listed(self, subscription: str, resource_group: str | None) -> list[tuple[Resource, VmRecord]]:
        self._state.require_scope(subscription, resource_group)
        found = []
        for resource in self._state.store.list(
            VM_TYPE, subscription=subscription, resource_group=resource_group
        ):
            record = self._state.vm_record(resource.id)
            if record is not None:
                found.append((resource, record))
        return found

    def list(
        self,
        subscription: str,
        resource_group: str | None,
        *,
        expand: str | None = None,
        scale_set: str | None = None,
    ) -> list[dict[str, Any]]:
        rendered = []
        for resource, record in self._listed(subscription, resource_group):
            if scale_set is not None:
                member_of = str((resource.properties.get("virtualMachineScaleSet") or {}).get("id", ""))
                if member_of.lower().rstrip("/") != scale_set.lower().rstrip("/"):
                    continue
            rendered.append(self._render(resource, record, expand))
        return rendered

    def boot_diagnostics(self, rid: ResourceId, base_url: str) -> dict[str, Any]:
        _, record = self._require(rid)
        if not record.boot_diagnostics:
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Boot diagnostics are not enabled for the virtual machine '{rid.name}'.",
            )
        query = f"resourceGroup={record.resource_group}&sv=2021-08-06&sig=simulated"
        return {
            "consoleScreenshotBlobUri": f"{base_url}/_sim/vms/{rid.name}/screenshot.bmp?{query}",
            "serialConsoleLogBlobUri": f"{base_url}/_sim/vms/{rid.name}/serialconsole.log?{query}",
        }

    def _require(self, rid: ResourceId) -> tuple[Resource, VmRecord]:
        resource = self._state.require_resource(rid)
        record = self._state.vm_record(rid)
        if record is None:
            raise resource_not_found(VM_TYPE, rid.name, rid.resource_group or "")
        return resource, record

    @staticmethod
    def _render(resource: Resource, record: VmRecord, expand: str | None) -> dict[str, Any]:
        wanted = {part.strip().lower() for part in (expand or "").split(",")}
        return render_vm(
            resource, record, instance_view="instanceview" in wanted, user_data="userdata" in wanted
        )

    # --- create / update ---------------------------------------------------------------------

    def put(self, rid: ResourceId, body: Any, *, api_version: str) -> Answer:
        group = self._state.require_resource_group(rid.subscription, rid.resource_group or "")
        record = self._state.vm_record(rid)
        if record is not None:
            return self._update(rid, record, body)
        plan = plan_create(
            self._state.config,
            self._state.store,
            rid,
            body,
            str(group.body["location"]),
            api_version=api_version,
        )
        addresses = allocate_addresses(self._state.store, plan.nics)
        failure = self._decide_failure(plan.size, plan.priority, plan.location, on_put=True)
        record = self._create_resources(rid, body, plan, addresses)
        record.pending_failure = failure
        record.operation = self._start_operation(record, "create")
        record.log(f"Create accepted: {plan.size.name}, priority {plan.priority}")
        self._state.spawn(self._provision(record, record.operation), owner=record)
        resource = self._state.store.get(rid)
        assert resource is not None
        return Answer(201, self._render(resource, record, None), record.operation)

    def _create_resources(
        self, rid: ResourceId, request: dict[str, Any], plan: VmPlan, addresses: dict[tuple[str, str], str]
    ) -> VmRecord:
        store = self._state.store
        attached = [self._attach_nic(rid, nic, plan.location, addresses) for nic in plan.nics]
        disk_id = None
        if plan.os_disk.managed and not plan.os_disk.ephemeral:
            disk_id = ResourceId.resource(
                rid.subscription, rid.resource_group or "", COMPUTE, "disks", plan.os_disk.name
            )
            store.put(disk_id, disk_body(disk_id, plan, rid))
        record = VmRecord(
            id=rid,
            location=plan.location,
            size=plan.size.name,
            priority=plan.priority,
            computer_name=plan.computer_name,
            custom_data=plan.custom_data,
            user_data=plan.user_data,
            ephemeral_os_disk=plan.os_disk.ephemeral,
            boot_diagnostics=plan.boot_diagnostics,
            nics=attached,
            os_disk_id=disk_id,
            os_disk_delete_option=plan.os_disk.delete_option,
            vm_id=str(uuid.uuid4()),
            never_boot=self._decide_never_boot(),
            console=deque(maxlen=self._state.config.console_lines),
        )
        store.put(rid, vm_body(rid, request, plan, record))
        self._state.vms[rid.key] = record
        return record

    def _attach_nic(
        self, vm: ResourceId, plan: NicPlan, location: str, addresses: dict[tuple[str, str], str]
    ) -> AttachedNic:
        store = self._state.store
        existing = store.get(plan.id)
        pip_id = None
        if existing is None:
            if plan.public_ip is not None:
                pip_id = ResourceId.resource(
                    vm.subscription,
                    vm.resource_group or "",
                    "Microsoft.Network",
                    "publicIPAddresses",
                    plan.public_ip.name,
                )
                ip_config = plan.id.child("ipConfigurations", plan.ip_configurations[0][0])
                store.put(pip_id, public_ip_body(pip_id, location, plan.public_ip.sku, ip_config))
            nic = store.put(plan.id, nic_body(plan, location, vm, addresses, pip_id))
        else:
            nic = existing
            attach(nic, vm)
            store.touch(nic)
            raw_pip = nic.properties["ipConfigurations"][0]["properties"].get("publicIPAddress")
            pip_id = ResourceId.parse(raw_pip["id"]) if raw_pip else None
        ip_props = [c["properties"] for c in nic.properties.get("ipConfigurations", [])]
        return AttachedNic(
            id=nic.id,
            delete_option=plan.delete_option,
            primary=plan.primary,
            created_inline=plan.inline,
            subnet_ids=tuple(p["subnet"]["id"] for p in ip_props),
            private_ips=tuple(p.get("privateIPAddress", "") for p in ip_props),
            public_ip_id=pip_id,
            public_ip_delete_option=plan.public_ip.delete_option if plan.public_ip else "Detach",
        )

    def _decide_failure(
        self, size: VmSize, priority: str, location: str, *, on_put: bool
    ) -> PendingFailure | None:
        """Consume the first matching failure rule. A synchronous rule rejects the PUT itself (only
        when there is a PUT to reject); otherwise the failure is reported by the operation later."""
        rules = self._state.config.lro_failures
        for rule in list(rules):
            if not rule.matches(size=size.name, priority=priority, location=location):
                continue
            if not rule.take(self._state.rng):
                continue
            if rule.spent:
                rules.remove(rule)
            message = rule.text(
                size=size.name, family=size.family, location=location, vcpus=size.vcpus, priority=priority
            )
            if rule.synchronous and on_put:
                raise ArmError(rule.status, rule.code, message)
            return PendingFailure(rule.code, message, rule.after_s)
        return None

    def _decide_never_boot(self) -> bool:
        never = self._state.config.never_boot
        if never.count > 0:
            never.count -= 1
            return True
        return never.probability > 0 and self._state.rng.random() < never.probability

    def _update(self, rid: ResourceId, record: VmRecord, body: Any) -> Answer:
        if not isinstance(body, dict):
            raise ArmError(
                400, "InvalidRequestContent", "The request content was invalid and could not be deserialized."
            )
        if record.provisioning_state == "Deleting":
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Operation 'PUT' is not allowed on VM '{rid.name}' since the VM is marked for deletion. "
                "You can only retry the Delete operation (or wait for an ongoing one to complete).",
            )
        resource = self._state.store.get(rid)
        assert resource is not None
        props = body.get("properties") or {}
        new_custom = (props.get("osProfile") or {}).get("customData")
        for name, changed in (
            ("location", str(body.get("location", record.location)).lower() != record.location.lower()),
            ("customData", bool(new_custom) and new_custom != record.custom_data),
        ):
            if changed:
                message = f"Changing property '{name}' is not allowed."
                raise ArmError(409, "PropertyChangeNotAllowed", message, target=name)
        if "tags" in body:
            resource.body["tags"] = dict(body["tags"] or {})
        new_size = (props.get("hardwareProfile") or {}).get("vmSize")
        if new_size and new_size.lower() != record.size.lower():
            size = self._state.config.size(new_size)
            if size is None or not size.offered_in(record.location, self._state.locations):
                raise ArmError(
                    409,
                    "SkuNotAvailable",
                    f"The requested size for resource '{rid}' is currently not available in location "
                    f"'{record.location}'.",
                )
            record.size = size.name
            resource.properties["hardwareProfile"]["vmSize"] = size.name
        self._state.store.touch(resource)
        if record.operation is not None and not record.operation.done:
            return Answer(200, self._render(resource, record, None), record.operation)
        if record.provisioning_state == "Failed":
            # Re-PUTting a failed VM retries its allocation, as Azure does.
            record.provisioning_state, record.failure = "Updating", None
            size = self._state.config.size(record.size)
            assert size is not None
            record.pending_failure = self._decide_failure(
                size, record.priority, record.location, on_put=False
            )
            record.operation = self._start_operation(record, "update")
            self._state.spawn(self._provision(record, record.operation), owner=record)
            return Answer(200, self._render(resource, record, None), record.operation)
        return Answer(200, self._render(resource, record, None))

    def _start_operation(self, record: VmRecord, kind: str) -> AsyncOperation:
        return self._state.ops.start(
            subscription=record.id.subscription,
            location=record.location,
            namespace=COMPUTE,
            kind=kind,
            resource_id=str(record.id),
        )

    async def _provision(self, record: VmRecord, op: AsyncOperation) -> None:
        timing = self._state.config.timing
        failure = record.pending_failure
        wait = timing.provisioning_s if failure is None or failure.after_s is None else failure.after_s
        await self._state.clock.sleep(wait)
        if failure is not None:
            record.provisioning_state = "Failed"
            record.power_state = "deallocated"
            record.failure = {"code": failure.code, "message": failure.message}
            record.pending_failure = None
            op.fail(failure.code, failure.message)
            record.log(f"Provisioning failed: {failure.code}: {failure.message}")
            return
        record.provisioning_state = "Succeeded"
        record.power_state = "running"
        record.provisioned_at = time.time()
        op.succeed()
        record.log("Provisioning succeeded; VM running")
        await run_guest(self._state, record)

    # --- delete ------------------------------------------------------------------------------

    def delete(self, rid: ResourceId) -> Answer:
        self._state.require_resource_group(rid.subscription, rid.resource_group or "")
        record = self._state.vm_record(rid)
        if record is None:
            return Answer(204)
        if record.provisioning_state == "Deleting" and record.operation is not None:
            return Answer(202, operation=record.operation)
        if record.operation is not None and not record.operation.done:
            record.operation.fail(
                "OperationPreempted",
                "Operation execution has been preempted by a more recent operation.",
                status="Canceled",
            )
        record.cancel_tasks()
        record.provisioning_state = "Deleting"
        record.power_state = (
            "stopping" if record.power_state in ("running", "starting") else record.power_state
        )
        if record.guest_state not in ("exited", "failed", "never-booted"):
            record.guest_state = "terminated"
        record.delete_requested_at = time.time()
        record.log("Delete accepted; shutting down")
        record.operation = self._start_operation(record, "delete")
        self._state.spawn(self._finish_delete(record, record.operation))
        return Answer(202, operation=record.operation)

    async def _finish_delete(self, record: VmRecord, op: AsyncOperation) -> None:
        await self._state.clock.sleep(self._state.config.timing.delete_s)
        store = self._state.store
        store.delete(record.id)
        for nic in record.nics:
            if nic.delete_option == "Delete":
                store.delete(nic.id)
                if nic.public_ip_id is not None and nic.public_ip_delete_option == "Delete":
                    store.delete(nic.public_ip_id)
            else:
                left = store.get(nic.id)
                if left is not None:
                    attach(left, None)
                    store.touch(left)
        if record.os_disk_id is not None:
            if record.os_disk_delete_option == "Delete":
                store.delete(record.os_disk_id)
            else:
                disk = store.get(record.os_disk_id)
                if disk is not None:
                    disk.body.pop("managedBy", None)
                    disk.properties["diskState"] = "Unattached"
        record.provisioning_state = "Deleted"
        record.power_state = None
        record.deleted_at = time.time()
        record.log("VM deleted")
        self._state.vms.pop(record.id.key, None)
        self._state.deleted_vms.append(record)
        op.succeed()
