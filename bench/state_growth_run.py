"""State growth: what one reconcile round reads from the state table as finished jobs pile up, and
what the hourly housekeeping leaves behind.

For each count of finished jobs (default 100 and 10,000), one table holds that many `done` job
records, settled four days ago (past `JOB_RETENTION`), next to a small live fleet: busy runners,
suspects to confirm (each one rechecked before it is deleted), provisions in flight under a lease,
and jobs the forge lists as waiting. Then, on the service's own runtime (`runtime.Runtime`, its
`FleetState`, `Reconciler` and `housekeeping`):

- `before_purge_full_partition`: one round that reads the job partition whole to find the leases,
  once per forge and again per suspect (what the round did before it could filter in the table);
- `before_purge`: the same round as it runs now (only `state eq 'provisioning'` rows);
- `housekeeping`: the hourly timer, which purges the finished records;
- `after_purge`: the round again.

Compute and the forge are in-memory stand-ins (no simulator): the state table is what is measured.
Every table call goes through `CountingStateTable`; one call is one request to Azure Tables (paging
aside). The live fleet is put back before each round, so every round does the same work.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from runner_fleet import naming, runtime
from runner_fleet.adapters.memory import MemoryStateTable, MemoryWorkQueue
from runner_fleet.messages import ProvisionRequest
from runner_fleet.ports.compute import MANAGED_BY, TAG_MANAGED_BY, StillWanted, VmInfo, VmSpec
from runner_fleet.ports.feeds import WaitingJob
from runner_fleet.ports.forge import Registration, RunnerInfo, RunnerScope
from runner_fleet.settings import load_service_settings
from runner_fleet.settings.pool import Pool
from runner_fleet.state.table import Data, StateTable, encode_key
from runner_fleet_dev.counting_table import CountingStateTable

Progress = Callable[[str], None]

FORGE: Literal["github"] = "github"
ORG = "bench-org"
JOBS = f"job-{FORGE}"
BOOT_TIMEOUT_S = 300
# Placeholders: nothing here reaches Azure (no simulator either: the state table is what is measured).
SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
RESOURCE_GROUP = "rg-runners"
SUBNET_ID = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}"
    "/providers/Microsoft.Network/virtualNetworks/vnet-runners/subnets/snet-runners"
)
SEED_CONCURRENCY = 32
TARGET = (
    "a round reads the same job records whatever the number of finished jobs, and housekeeping "
    "leaves no finished record past its retention"
)


@dataclass(frozen=True)
class StateGrowthSettings:
    finished: tuple[int, ...] = (100, 10_000)
    busy: int = 20  # runners running a job
    suspects: int = 10  # runners that never came online, marked a round ago: rechecked, then deleted
    in_flight: int = 5  # provisions holding a lease, no VM yet
    waiting: int = 10  # jobs the forge lists as waiting, unknown to the table (missed webhooks)
    repeat: int = 3  # rounds measured per case (the median time is reported)
    azurite: bool = False

    @property
    def jobs(self) -> int:
        """The most finished jobs any run puts in the table."""
        return max(self.finished)


def bench_pool() -> Pool:
    return Pool.model_validate(
        {
            "name": "bench",
            "forge": FORGE,
            "labels": ["bench"],
            "github": {"org": ORG, "runner_group_id": 2},
            "azure": {
                "subscription_id": SUBSCRIPTION,
                "resource_group": RESOURCE_GROUP,
                "location": "westeurope",
                "subnet_id": SUBNET_ID,
                "vm_sizes": ["Standard_D2ads_v5"],
            },
            "limits": {"max_runners": 200, "boot_timeout_s": BOOT_TIMEOUT_S},
        }
    )


@dataclass
class StandInCompute:
    """The VMs that exist; deletes remove them. Nothing is created during a round."""

    vms: dict[str, VmInfo] = field(default_factory=dict)

    async def get_vm(self, pool: Pool, name: str) -> VmInfo | None:
        return self.vms.get(name)

    def throttled_for(self) -> float:
        return 0.0

    async def start_create(self, spec: VmSpec, *, still_wanted: StillWanted | None = None) -> VmInfo:
        raise NotImplementedError("a reconcile round creates no VM")

    async def delete_vm(self, pool: Pool, name: str, *, wait: bool = True) -> bool:
        return self.vms.pop(name, None) is not None

    async def list_vms(self, pools: list[Pool]) -> list[VmInfo]:
        return list(self.vms.values())

    async def close(self) -> None:
        return None


@dataclass
class StandInRegistry:
    """The forge's runner registrations."""

    runners: dict[int, RunnerInfo] = field(default_factory=dict)
    removes_itself_after_job: bool = True

    async def register(self, scope: RunnerScope, name: str) -> Registration:
        raise NotImplementedError("a reconcile round registers no runner")

    async def find(self, scope: RunnerScope, name: str) -> RunnerInfo | None:
        return next((runner for runner in self.runners.values() if runner.name == name), None)

    async def get(self, scope: RunnerScope, runner_id: int) -> RunnerInfo | None:
        return self.runners.get(runner_id)

    async def remove(self, scope: RunnerScope, runner_id: int) -> bool:
        return self.runners.pop(runner_id, None) is not None

    async def list_runners(self, scope: RunnerScope) -> list[RunnerInfo]:
        return list(self.runners.values())

    def forge_url(self, scope: RunnerScope) -> str:
        return f"https://github.example/{scope.org}"

    async def close(self) -> None:
        return None


@dataclass
class StandInFeed:
    waiting: list[WaitingJob] = field(default_factory=list)

    async def waiting_jobs(self, pools: list[Pool]) -> list[WaitingJob]:
        return list(self.waiting)

    async def redeliver_failed(self, since_s: float) -> int:
        return 0

    async def close(self) -> None:
        return None


@dataclass
class LiveFleet:
    """The runners and jobs a round works on, put back as they were before each measured round."""

    settings: StateGrowthSettings
    pool: Pool
    table: StateTable
    compute: StandInCompute = field(default_factory=StandInCompute)
    registry: StandInRegistry = field(default_factory=StandInRegistry)
    feed: StandInFeed = field(default_factory=StandInFeed)

    @property
    def job_records(self) -> int:
        s = self.settings
        return s.busy + s.suspects + s.in_flight

    async def reset(self) -> None:
        s, now = self.settings, time.time()
        self.compute.vms.clear()
        self.registry.runners.clear()
        job = 1
        for kind, count in (("busy", s.busy), ("suspect", s.suspects), ("in_flight", s.in_flight)):
            for _ in range(count):
                await self._runner(kind, job, now)
                job += 1
        self.feed.waiting = []
        for _ in range(s.waiting):
            request = ProvisionRequest(forge=FORGE, pool=self.pool.name, job_id=job, org=ORG)
            self.feed.waiting.append(WaitingJob(request, waiting_since=now - 120))
            await self.table.delete(f"recovery-{FORGE}", encode_key(str(job)))
            job += 1

    async def _runner(self, kind: str, job: int, now: float) -> None:
        name = naming.runner_name(self.pool.name, FORGE, str(job))
        record: Data = {"runner_name": name, "pool": self.pool.name, "owner": f"message-{job}"}
        if kind == "in_flight":
            record |= {"state": "provisioning", "lease_until": now + 900, "claimed_at": now - 30}
        else:
            record |= {"state": "provisioned", "lease_until": now - 600, "claimed_at": now - 900}
            record |= {"vm": name, "updated": now - 800}
            created = now - (60 if kind == "busy" else BOOT_TIMEOUT_S + 120)
            self.compute.vms[name] = VmInfo(
                name,
                self.pool.azure.resource_group,
                "Standard_D2ads_v5",
                {
                    TAG_MANAGED_BY: MANAGED_BY,
                    "pool": self.pool.name,
                    "forge": FORGE,
                    "runner": name,
                    "job": str(job),
                    "created-at": datetime.fromtimestamp(created, UTC).isoformat(timespec="seconds"),
                },
                "Succeeded",
                "running",
            )
            busy = kind == "busy"
            self.registry.runners[job] = RunnerInfo(job, name, "online" if busy else "offline", busy)
        await self.table.upsert(JOBS, encode_key(str(job)), record)
        slot: Data = {"runner_name": name, "at": now - 900}
        await self.table.upsert(f"slot-{self.pool.name}", f"{job:04d}", slot)
        if kind == "suspect":
            reason = f"runner never came online within {BOOT_TIMEOUT_S}s"
            mark: Data = {"action": "delete", "reason": reason, "since": now - 120}
            await self.table.upsert("suspect", encode_key(name), mark)


async def seed_finished(table: StateTable, count: int, *, settled_at: float, first_job: int) -> None:
    """`count` job records as a settled job leaves them (claimed, provisioned, then done)."""
    semaphore = asyncio.Semaphore(SEED_CONCURRENCY)

    async def one(job: int) -> None:
        name = naming.runner_name("bench", FORGE, str(job))
        record: Data = {
            "state": "done",
            "runner_name": name,
            "pool": "bench",
            "owner": str(uuid.UUID(int=job)),
            "lease_until": settled_at - 300,
            "claimed_at": settled_at - 1200,
            "vm": name,
            "updated": settled_at,
        }
        async with semaphore:
            await table.insert(JOBS, encode_key(str(job)), record)

    await asyncio.gather(*(one(first_job + i) for i in range(count)))


def _figures(table: CountingStateTable, elapsed_s: float) -> dict[str, Any]:
    return {
        "ms": round(elapsed_s * 1000, 2),
        "table_operations": sum(table.operations.values()),
        "operations": dict(sorted(table.operations.items())),
        "job_rows_read": table.rows_read[JOBS],
        "rows_read": sum(table.rows_read.values()),
    }


@contextmanager
def _counted(table: CountingStateTable, into: list[dict[str, Any]]) -> Iterator[None]:
    table.reset()
    started = time.perf_counter()
    yield
    into.append(_figures(table, time.perf_counter() - started))


async def _rounds(
    rt: runtime.Runtime, live: LiveFleet, table: CountingStateTable, repeat: int, *, full_partition: bool
) -> dict[str, Any]:
    """`repeat` rounds on the same live fleet; the median time, the counts of the last round."""
    measured: list[dict[str, Any]] = []
    table.full_partition_reads = full_partition
    try:
        for _ in range(repeat):
            await live.reset()
            reconciler = rt.reconciler()
            with _counted(table, measured):
                report = await reconciler()
            if len(report.acted) != live.settings.suspects or report.errors:
                raise RuntimeError(f"the round did not do the expected work: {report.as_dict()}")
    finally:
        table.full_partition_reads = False
    last = measured[-1]
    result = {"round_ms": statistics.median(m["ms"] for m in measured)}
    return result | {key: value for key, value in last.items() if key != "ms"}


async def _job_rows(table: CountingStateTable) -> int:
    return len(await table.inner.query(JOBS))


async def measure_one(
    settings: StateGrowthSettings,
    finished: int,
    make_table: Callable[[], Awaitable[StateTable]],
    progress: Progress,
) -> dict[str, Any]:
    table = CountingStateTable(await make_table())
    pool = bench_pool()
    live = LiveFleet(settings, pool, table)
    environ = {"GITHUB_WEBHOOK_SECRET": "bench-secret", "GITHUB_TOKEN": "bench-token-" + "x" * 28}
    rt = runtime.Runtime(
        load_service_settings(environ),
        (pool,),
        MemoryWorkQueue(),
        table,
        lambda: live.compute,
        {FORGE: lambda: live.registry},
        feed_factories={FORGE: lambda: live.feed},
    )
    try:
        progress(f"state-growth: {finished} finished jobs: seeding")
        settled_at = time.time() - runtime.JOB_RETENTION.total_seconds() - 86400
        await seed_finished(table.inner, finished, settled_at=settled_at, first_job=1_000_000)
        await live.reset()
        result: dict[str, Any] = {"finished_jobs": finished, "job_rows_in_table": await _job_rows(table)}
        progress(f"state-growth: {finished} finished jobs: rounds before the purge")
        result["before_purge_full_partition"] = await _rounds(
            rt, live, table, settings.repeat, full_partition=True
        )
        result["before_purge"] = await _rounds(rt, live, table, settings.repeat, full_partition=False)
        progress(f"state-growth: {finished} finished jobs: housekeeping")
        purged: list[dict[str, Any]] = []
        with _counted(table, purged):
            await rt.housekeeping()
        rows_left = await _job_rows(table)
        result["housekeeping"] = purged[0] | {"job_records_removed": result["job_rows_in_table"] - rows_left}
        progress(f"state-growth: {finished} finished jobs: rounds after the purge")
        result["after_purge"] = await _rounds(rt, live, table, settings.repeat, full_partition=False)
        result["after_purge"]["job_rows_in_table"] = rows_left
        return result
    finally:
        await rt.aclose()


async def run_state_growth(settings: StateGrowthSettings, progress: Progress) -> dict[str, Any]:
    started = time.monotonic()
    with _backend(settings) as make_table:
        results = [await measure_one(settings, count, make_table, progress) for count in settings.finished]
    live_jobs = settings.busy + settings.suspects + settings.in_flight
    reads = {r["before_purge"]["job_rows_read"] for r in results}
    met = len(reads) == 1 and all(r["after_purge"]["job_rows_in_table"] == live_jobs for r in results)
    return {
        "backend": "azurite" if settings.azurite else "memory",
        "finished_jobs": list(settings.finished),
        "live": {
            "busy_runners": settings.busy,
            "suspects": settings.suspects,
            "provisions_in_flight": settings.in_flight,
            "waiting_jobs": settings.waiting,
        },
        "repeat": settings.repeat,
        "results": results,
        "summary": [_summary(r) for r in results],
        "target": TARGET,
        "met_target": met,
        "wall_s": round(time.monotonic() - started, 1),
    }


def _summary(result: dict[str, Any]) -> str:
    full, now, after = result["before_purge_full_partition"], result["before_purge"], result["after_purge"]
    return (
        f"{result['finished_jobs']} finished: round reads {full['job_rows_read']} job rows whole-partition "
        f"({full['round_ms']} ms), {now['job_rows_read']} filtered ({now['round_ms']} ms); housekeeping "
        f"removed {result['housekeeping']['job_records_removed']} in {result['housekeeping']['ms']} ms; "
        f"after: {after['job_rows_read']} ({after['round_ms']} ms), {after['job_rows_in_table']} rows left"
    )


@contextmanager
def _backend(settings: StateGrowthSettings) -> Iterator[Callable[[], Awaitable[StateTable]]]:
    """How to make a fresh, empty table: in memory, or one new table in a private Azurite."""
    if not settings.azurite:

        async def memory() -> StateTable:
            return MemoryStateTable()

        yield memory
        return
    # The launcher the storage tests use: the npm package pinned in package.json (or AZURITE_BIN).
    from runner_fleet.adapters.storage import AzureStateTable, StorageEndpoints
    from tests.azurite import Azurite

    with Azurite() as azurite:
        endpoints = StorageEndpoints.from_settings({"AzureWebJobsStorage": azurite.connection_string})

        async def azure() -> StateTable:
            return AzureStateTable.from_endpoints(endpoints, f"bench{uuid.uuid4().hex[:16]}")

        yield azure
