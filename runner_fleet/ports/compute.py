"""Where runner VMs live. Azure is the source of truth for what exists; tags say what a VM is for."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from runner_fleet.settings.pool import Pool

TAG_MANAGED_BY = "managed-by"
MANAGED_BY = "runner-fleet"
# A runner VM powers itself off when its job is done (or its start script failed).
EXITED = frozenset({"stopped", "stopping", "deallocated", "deallocating"})


@dataclass(frozen=True)
class VmSpec:
    name: str
    pool: Pool
    size: str
    custom_data_b64: str
    tags: dict[str, str]
    ssh_public_key: str
    spot: bool = False


@dataclass(frozen=True)
class VmInfo:
    name: str
    resource_group: str
    size: str
    tags: dict[str, str]
    provisioning_state: str
    power_state: str | None = None
    created_at: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def pool(self) -> str | None:
        return self.tags.get("pool")

    @property
    def forge(self) -> str | None:
        return self.tags.get("forge")

    @property
    def exited(self) -> bool:
        return self.power_state in EXITED

    @property
    def going_away(self) -> bool:
        """It will never run a job again: being deleted, failed, or its runner powered it off."""
        return self.provisioning_state in {"Deleting", "Failed"} or self.exited

    @property
    def state_text(self) -> str:
        return self.provisioning_state + (f"/{self.power_state}" if self.power_state else "")


class VmCreateRejected(Exception):
    """Azure refused this VM for a reason another size or priority may not hit (capacity, quota, SKU)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class VmBeingDeleted(Exception):
    """A VM of this name is still being deleted; creating over it is refused until it is gone."""


class VmNoLongerWanted(Exception):
    """The create's `still_wanted` check said no right before a PUT: nothing was created by it."""


# Asked right before each PUT of a create (the first and every retry, after any wait for an earlier
# delete): a retried create must not bring back a VM that a release deleted meanwhile.
StillWanted = Callable[[], Awaitable[bool]]


class Compute(Protocol):
    async def get_vm(self, pool: Pool, name: str) -> VmInfo | None: ...

    async def create_vm(self, spec: VmSpec, *, still_wanted: StillWanted | None = None) -> VmInfo:
        """Create (or, for the same name, converge to) one VM and wait until Azure reports it provisioned.

        `still_wanted` is awaited right before each PUT; False raises `VmNoLongerWanted`.
        """

    async def delete_vm(self, pool: Pool, name: str) -> bool:
        """Delete a VM with its NIC and OS disk; False if it did not exist."""

    async def list_vms(self, pools: list[Pool]) -> list[VmInfo]:
        """Our VMs (by the managed-by tag) in the resource groups of `pools`."""

    async def close(self) -> None: ...
