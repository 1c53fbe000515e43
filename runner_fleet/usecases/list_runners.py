"""List runners: our VMs (Azure, by tag) joined with the forges' registrations, one row per runner name."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from runner_fleet import naming
from runner_fleet.forges import Forge
from runner_fleet.ports.compute import KIND_PROBE, Compute
from runner_fleet.ports.forge import RunnerRegistry, distinct_scopes
from runner_fleet.settings.pool import Pool


@dataclass(frozen=True)
class RunnerRow:
    name: str
    pool: str
    forge: str  # as the VM's tag says; a hand-made VM may say anything
    vm: str  # provisioning state / power state, or "absent"
    # busy, absent, probe (a `doctor --probe` VM), or the forge's own status (online, offline, ...)
    registration: str
    job: str | None
    age_s: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def list_runners(
    pools: Sequence[Pool], compute: Compute, registries: Mapping[Forge, RunnerRegistry]
) -> list[RunnerRow]:
    known = {pool.name: pool for pool in pools}
    vms = {vm.name: vm for vm in await compute.list_vms(list(pools))}
    registrations: dict[str, tuple[str, str]] = {}
    for scope in distinct_scopes(pools):
        for runner in await registries[scope.pool.forge].list_runners(scope):
            if naming.pool_of(runner.name) in known:
                registrations[runner.name] = (scope.pool.forge, "busy" if runner.busy else runner.status)
    rows = []
    now = time.time()
    for name in sorted(set(vms) | set(registrations)):
        vm = vms.get(name)
        pool = (vm.pool if vm else None) or naming.pool_of(name) or "?"
        forge = (vm.forge if vm else None) or registrations.get(name, ("?", ""))[0]
        vm_state = vm.state_text if vm is not None else "absent"
        created = vm.tags.get("created-at") if vm else None
        age = None
        if created:
            from datetime import datetime

            age = round(now - datetime.fromisoformat(created).timestamp(), 1)
        rows.append(
            RunnerRow(
                name,
                pool,
                forge,
                vm_state,
                # A `doctor --probe` VM never registers: say what it is rather than "absent".
                "probe"
                if vm is not None and vm.kind == KIND_PROBE
                else registrations.get(name, ("", "absent"))[1],
                vm.tags.get("job") if vm else None,
                age,
            )
        )
    return rows
