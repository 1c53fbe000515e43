"""Everything the simulator knows, owned by the background loop (never touched from other threads)."""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Coroutine
from typing import Any

import aiohttp

from simulator.arm.config import ArmConfig
from simulator.arm.errors import ArmError, resource_not_found
from simulator.arm.ids import ResourceId
from simulator.arm.operations import AsyncOperation, OperationBook
from simulator.arm.seeding import seed_topology
from simulator.arm.store import Resource, ResourceStore
from simulator.arm.throttle import Throttler
from simulator.arm.vm_model import VmRecord
from simulator.clock import SimClock
from simulator.server import TaskSet


class ArmState:
    def __init__(self, config: ArmConfig, clock: SimClock) -> None:
        self.config = config
        self.clock = clock
        self.store = ResourceStore()
        self.ops = OperationBook()
        self.throttle = Throttler(clock, lambda: self.config.throttle)
        self.rng = random.Random(config.seed)
        self.vms: dict[str, VmRecord] = {}
        self.deleted_vms: list[VmRecord] = []
        self.request_log: deque[dict[str, Any]] = deque(maxlen=config.request_log_size)
        self.tasks = TaskSet("ARM simulator")
        self.http: aiohttp.ClientSession | None = None
        self.base_url = ""
        self.accepting = True
        seed_topology(self.store, config.topology)

    @property
    def locations(self) -> tuple[str, ...]:
        return self.config.topology.locations

    def spawn(self, coro: Coroutine[Any, Any, None], owner: VmRecord | None = None) -> asyncio.Task[None]:
        task = self.tasks.spawn(coro)
        if owner is not None:
            owner.tasks.add(task)
            task.add_done_callback(owner.tasks.discard)
        return task

    def require_subscription(self, subscription: str) -> Resource:
        found = self.store.get(ResourceId(subscription))
        if found is None:
            raise ArmError(
                404, "SubscriptionNotFound", f"The subscription '{subscription}' could not be found."
            )
        return found

    def require_resource_group(self, subscription: str, resource_group: str) -> Resource:
        self.require_subscription(subscription)
        found = self.store.get(ResourceId(subscription, resource_group))
        if found is None:
            raise ArmError(
                404, "ResourceGroupNotFound", f"Resource group '{resource_group}' could not be found."
            )
        return found

    def require_scope(self, subscription: str, resource_group: str | None) -> None:
        """The subscription, and the resource group when one is named, must exist."""
        if resource_group is None:
            self.require_subscription(subscription)
        else:
            self.require_resource_group(subscription, resource_group)

    def require_resource(self, rid: ResourceId) -> Resource:
        """A stored resource of a resource group that exists, else ARM's 404 `ResourceNotFound`."""
        self.require_resource_group(rid.subscription, rid.resource_group or "")
        found = self.store.get(rid)
        if found is None:
            raise resource_not_found(rid.type, "/".join(rid.names), rid.resource_group or "")
        return found

    def operation(self, subscription: str, op_id: str) -> AsyncOperation:
        op = self.ops.get(op_id)
        if op is None or op.subscription.lower() != subscription.lower():
            raise ArmError(404, "NotFound", f"The operation '{op_id}' was not found.")
        return op

    def vm_record(self, rid: ResourceId) -> VmRecord | None:
        return self.vms.get(rid.key)

    def find_vm(self, name: str, resource_group: str | None = None) -> VmRecord | None:
        """A live VM by name, else the most recently deleted one (consoles outlive their VMs)."""

        def wanted(record: VmRecord) -> bool:
            if record.name.lower() != name.lower():
                return False
            return resource_group is None or record.resource_group.lower() == resource_group.lower()

        live = [r for r in self.vms.values() if wanted(r)]
        if live:
            return live[-1]
        gone = [r for r in self.deleted_vms if wanted(r)]
        return gone[-1] if gone else None
