"""In-memory fakes of the compute and forge ports, for use-case tests without I/O.

Every call suspends once, as a real one does on its network round trip, so that use cases run
concurrently in a test (asyncio.gather) interleave for real instead of one after the other.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.ports.compute import (
    CreateFailure,
    StillWanted,
    VmCreateRejected,
    VmInfo,
    VmNoLongerWanted,
    VmSpec,
)
from runner_fleet.ports.forge import Registration, RunnerBusy, RunnerInfo, RunnerNameTaken, RunnerScope
from runner_fleet.settings.pool import Pool
from runner_fleet.state.table import Data, Record


async def _io() -> None:
    await asyncio.sleep(0)


class YieldingStateTable(MemoryStateTable):
    """The in-memory table, suspending before each primitive as a storage round trip would."""

    async def insert(self, partition: str, key: str, data: Data) -> Record:
        await _io()
        return await super().insert(partition, key, data)

    async def get(self, partition: str, key: str) -> Record | None:
        await _io()
        return await super().get(partition, key)

    async def replace(self, record: Record, data: Data) -> Record:
        await _io()
        return await super().replace(record, data)

    async def upsert(self, partition: str, key: str, data: Data) -> Record:
        await _io()
        return await super().upsert(partition, key, data)

    async def delete(self, partition: str, key: str, *, etag: str | None = None) -> bool:
        await _io()
        return await super().delete(partition, key, etag=etag)

    async def query(self, partition: str) -> list[Record]:
        await _io()
        return await super().query(partition)

    async def query_where(self, partition: str, equals: Mapping[str, str | bool]) -> list[Record]:
        await _io()
        return await super().query_where(partition, equals)


@dataclass
class FakeCompute:
    vms: dict[str, VmSpec] = field(default_factory=dict)
    created: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    fail_create: Exception | None = None
    foreign: dict[str, VmInfo] = field(default_factory=dict)
    power: dict[str, str] = field(default_factory=dict)  # name -> power state (default running)
    provisioning: dict[str, str] = field(
        default_factory=dict
    )  # name -> provisioning state (default Succeeded)
    # (size, spot) -> Azure error code: capacity or quota refusals, for fallback tests
    reject: dict[tuple[str, bool], str] = field(default_factory=dict)
    attempts: list[tuple[str, bool]] = field(default_factory=list)
    # name -> why Azure failed it after accepting its PUT (set with provisioning[name] = "Failed")
    failures: dict[str, CreateFailure] = field(default_factory=dict)
    throttled_s: float = 0.0
    # Runs when a create starts, before its `still_wanted` check: what happens while ARM is slow.
    on_create: Callable[[VmSpec], Awaitable[None]] | None = None
    # What a VM's serial console shows: fixed text by name, else what `console_for` makes of the VM
    # (its guest's output); None while there is nothing, as before boot diagnostics have a log.
    consoles: dict[str, str] = field(default_factory=dict)
    console_for: Callable[[VmSpec], str | None] | None = None
    serial_reads: int = 0

    def _info(self, name: str, spec: VmSpec) -> VmInfo:
        return VmInfo(
            name,
            spec.pool.azure.resource_group,
            spec.size,
            spec.tags,
            self.provisioning.get(name, "Succeeded"),
            self.power.get(name, "running"),
            failure=self.failures.get(name),
            priority="Spot" if spec.spot else None,
        )

    async def get_vm(self, pool: Pool, name: str) -> VmInfo | None:
        await _io()
        if name in self.foreign:
            return self.foreign[name]
        spec = self.vms.get(name)
        return None if spec is None else self._info(name, spec)

    def throttled_for(self) -> float:
        return self.throttled_s

    async def start_create(self, spec: VmSpec, *, still_wanted: StillWanted | None = None) -> VmInfo:
        await _io()
        if self.on_create is not None:
            await self.on_create(spec)
        if still_wanted is not None and not await still_wanted():
            raise VmNoLongerWanted(spec.name)
        self.attempts.append((spec.size, spec.spot))
        if self.fail_create is not None:
            raise self.fail_create
        code = self.reject.get((spec.size, spec.spot))
        if code is not None:
            raise VmCreateRejected(code, "refused by the fake")
        self.vms[spec.name] = spec
        self.created.append(spec.name)
        return self._info(spec.name, spec)

    async def delete_vm(self, pool: Pool, name: str, *, wait: bool = True) -> bool:
        await _io()
        if self.vms.pop(name, None) is None:
            return False
        self.deleted.append(name)
        return True

    async def list_vms(self, pools: list[Pool]) -> list[VmInfo]:
        await _io()
        return [self._info(name, spec) for name, spec in self.vms.items()]

    async def serial_log(self, pool: Pool, name: str) -> str | None:
        await _io()
        self.serial_reads += 1
        if name in self.consoles:
            return self.consoles[name]
        spec = self.vms.get(name)
        if spec is None or self.console_for is None:
            return None
        return self.console_for(spec)

    async def close(self) -> None:
        return None


@dataclass
class FakeRegistry:
    runners: dict[int, RunnerInfo] = field(default_factory=dict)
    registrations: list[str] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    # GitHub refuses to delete a runner with a job (422); GitLab deletes it and the job goes on.
    refuses_busy: bool = True
    removes_itself_after_job: bool = False
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(100))

    async def register(self, scope: RunnerScope, name: str) -> Registration:
        await _io()
        if any(r.name == name for r in self.runners.values()):
            raise RunnerNameTaken(name)
        runner_id = next(self._ids)
        self.runners[runner_id] = RunnerInfo(runner_id, name, "offline", False, scope.pool.runner_labels)
        self.registrations.append(name)
        return Registration(runner_id, name, f"jit-secret-for-{name}")

    async def find(self, scope: RunnerScope, name: str) -> RunnerInfo | None:
        await _io()
        return next((r for r in self.runners.values() if r.name == name), None)

    async def get(self, scope: RunnerScope, runner_id: int) -> RunnerInfo | None:
        await _io()
        return self.runners.get(runner_id)

    async def remove(self, scope: RunnerScope, runner_id: int) -> bool:
        await _io()
        runner = self.runners.get(runner_id)
        if runner is None:
            return False
        if runner.busy and self.refuses_busy:
            raise RunnerBusy(str(runner_id))
        del self.runners[runner_id]
        self.removed.append(runner_id)
        return True

    def set_status(self, name: str, status: str, *, busy: bool = False, job_id: int | None = None) -> None:
        runner = next(r for r in self.runners.values() if r.name == name)
        self.runners[runner.runner_id] = RunnerInfo(
            runner.runner_id, name, status, busy, runner.labels, job_id=job_id
        )

    async def list_runners(self, scope: RunnerScope) -> list[RunnerInfo]:
        await _io()
        return list(self.runners.values())

    def forge_url(self, scope: RunnerScope) -> str:
        return f"https://github.example/{scope.org}"

    async def close(self) -> None:
        return None
