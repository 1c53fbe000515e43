"""Where runner VMs live. Azure is the source of truth for what exists; tags say what a VM is for."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from runner_fleet.settings.pool import Pool

TAG_MANAGED_BY = "managed-by"
MANAGED_BY = "runner-fleet"
# What a VM of ours is for when it runs no runner: `kind=probe` marks a network probe VM
# (`runner-fleet doctor --probe`), which no runner rule ever judges; the reconciler deletes it once
# its `expires-at` tag has passed.
TAG_KIND = "kind"
KIND_PROBE = "probe"
# When the service asked for the VM (written with the PUT; a probe's `expires-at` is written alike).
TAG_CREATED_AT = "created-at"
# A runner VM powers itself off when its job is done (or its start script failed).
EXITED = frozenset({"stopped", "stopping", "deallocated", "deallocating"})


def tag_stamp(at: float) -> str:
    """A time as the VM tags hold it: ISO 8601 UTC, to the second."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


def tag_time(text: str | None) -> float | None:
    """A time tag read back (one without an offset taken as UTC); None when absent or unreadable."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).timestamp()


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
class CreateFailure:
    """Why Azure failed a VM create after accepting its PUT (the VM is left in `Failed`)."""

    code: str
    message: str
    capacity: bool  # another size or priority may succeed where this one failed


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
    failure: CreateFailure | None = None
    priority: str | None = None  # Azure's `priority`: "Spot", "Regular", or None when not said (regular)

    @property
    def pool(self) -> str | None:
        return self.tags.get("pool")

    @property
    def forge(self) -> str | None:
        return self.tags.get("forge")

    @property
    def kind(self) -> str | None:
        return self.tags.get(TAG_KIND)

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


class VmCreateThrottled(Exception):
    """Resource Manager throttled the PUT: nothing was created; try again after `retry_after_s`."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"VM creates are throttled; retry in {retry_after_s:.0f}s")
        self.retry_after_s = retry_after_s


class VmNoLongerWanted(Exception):
    """The create's `still_wanted` check said no right before a PUT: nothing was created by it."""


# Asked right before each PUT of a create (the first and every retry, after any wait for an earlier
# delete): a retried create must not bring back a VM that a release deleted meanwhile.
StillWanted = Callable[[], Awaitable[bool]]


class Compute(Protocol):
    async def get_vm(self, pool: Pool, name: str) -> VmInfo | None: ...

    async def start_create(self, spec: VmSpec, *, still_wanted: StillWanted | None = None) -> VmInfo:
        """Send the VM's PUT and return as soon as Azure accepted it (usually `Creating`); never wait
        for the VM itself: its outcome is read later with `get_vm` (`failure` says why it failed).

        The caller has read the VM as absent just before (a retried PUT reads it again). `still_wanted`
        is awaited right before the PUT; False raises `VmNoLongerWanted`. A VM of this name being
        deleted raises `VmBeingDeleted` at once, a synchronous refusal for capacity or
        quota `VmCreateRejected`, a throttled PUT `VmCreateThrottled`: none of them made a VM.
        """

    def throttled_for(self) -> float:
        """Seconds until Resource Manager's last throttle on VM creates ends (0 when none is known):
        a create should not spend a runner registration on a PUT that would be refused."""

    async def delete_vm(self, pool: Pool, name: str, *, wait: bool = True) -> bool:
        """Delete a VM with its NIC and OS disk; False if it did not exist.

        `wait=False` returns once Azure accepted the delete (the VM reads `Deleting` until it is gone).
        """

    async def list_vms(self, pools: list[Pool]) -> list[VmInfo]:
        """Our VMs (by the managed-by tag) in the resource groups of `pools`."""

    async def close(self) -> None: ...


class SerialConsole(Protocol):
    async def serial_log(self, pool: Pool, name: str) -> str | None:
        """The VM's serial console output as boot diagnostics keep it, or None while there is none
        (the VM does not exist, or nothing has been written yet). Reading it changes nothing."""


class ProbeCompute(Compute, SerialConsole, Protocol):
    """What a network probe needs: make and delete a VM, and read what it wrote on its console."""
