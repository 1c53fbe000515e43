"""Usage rows: each runner VM gone is written once, with its VM time, busy time, wait and cost."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from structlog.testing import capture_logs

from runner_fleet import naming
from runner_fleet.adapters.memory.queue import MemoryWorkQueue
from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.cost.metering import Metering, vm_created_at
from runner_fleet.cost.prices import PriceBook, parse_price_table
from runner_fleet.messages import ProvisionRequest, ReleaseRequest
from runner_fleet.ports.compute import VmInfo
from runner_fleet.state.store import FleetState
from runner_fleet.state.table import Data, Record
from runner_fleet.state.usage import Usage, UsageLog
from runner_fleet.usecases.release import Releaser
from runner_fleet.usecases.replace_runner import RunnerReplacer
from tests.builders import make_pool, make_provisioner
from tests.fakes import FakeCompute, FakeRegistry
from tests.unit.test_reconciler import World

# 2026-11-30 10:00:00 UTC
T0 = 1_796_032_800.0
POOL = make_pool("aks-prod", ("aks-prod",))
SPOT_POOL = make_pool("aks-spot", ("aks-spot",), azure={"spot": True, "vm_sizes": ["Standard_D2s_v5"]})
NAME = naming.runner_name("aks-prod", "github", "42")
PRICES = PriceBook(
    admin=parse_price_table(
        {
            "prices": {
                "westeurope": {"Standard_D2ads_v5": 0.2, "Standard_D2s_v5": {"on_demand": 0.1, "spot": 0.02}}
            }
        }
    )
)


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@dataclasses.dataclass
class Fleet:
    clock: Clock = dataclasses.field(default_factory=Clock)
    compute: FakeCompute = dataclasses.field(default_factory=FakeCompute)
    registry: FakeRegistry = dataclasses.field(default_factory=FakeRegistry)
    table: MemoryStateTable = dataclasses.field(default_factory=MemoryStateTable)

    @property
    def state(self) -> FleetState:
        return FleetState(self.table, clock=self.clock)

    @property
    def usage(self) -> UsageLog:
        return UsageLog(self.table, self.clock)

    def metering(self, prices: PriceBook = PRICES) -> Metering:
        return Metering(self.state, prices, now=self.clock)

    def releaser(self) -> Releaser:
        pools = {POOL.name: POOL, SPOT_POOL.name: SPOT_POOL}
        return Releaser(pools, self.state, self.compute, {"github": self.registry}, metering=self.metering())

    async def provision(self, job_id: int, pool: str = "aks-prod", *, queued_at: float) -> str:
        pools = {POOL.name: POOL, SPOT_POOL.name: SPOT_POOL}
        provisioner = make_provisioner(
            pools, self.state, self.compute, {"github": self.registry}, now=self.clock
        )
        request = ProvisionRequest(
            forge="github", pool=pool, job_id=job_id, org="example-org", queued_at=queued_at
        )
        result = await provisioner(request, message_id=f"m-{job_id}")
        assert result.runner_name is not None
        return result.runner_name

    async def start(self, runner: str, job_id: int, pool: str = "aks-prod", **forge_times: float) -> None:
        """What handling the RunnerStarted message (GitHub `in_progress`, GitLab `running`) does."""
        pools = {POOL.name: POOL, SPOT_POOL.name: SPOT_POOL}
        replacer = RunnerReplacer(pools, self.state, MemoryWorkQueue(), now=self.clock)
        await replacer("github", pool, runner, job_id, **forge_times)

    def release_request(self, runner: str, job_id: int, pool: str = "aks-prod") -> ReleaseRequest:
        return ReleaseRequest(forge="github", pool=pool, job_id=job_id, org="example-org", runner_name=runner)


async def test_a_release_writes_the_vm_time_busy_time_wait_and_cost() -> None:
    """Queued at 0, VM asked at 5, job running at 95, released at 395: 390 VM-s, 300 busy, 95 wait."""
    fleet = Fleet()
    fleet.clock.t = T0 + 5
    name = await fleet.provision(42, queued_at=T0)
    fleet.clock.t = T0 + 95
    await fleet.start(name, 42)
    fleet.clock.t = T0 + 395
    result = await fleet.releaser()(fleet.release_request(name, 42))
    usage = result.usage
    assert usage is not None
    assert (usage.vm_seconds, usage.busy_seconds, usage.wait_s) == (390.0, 300.0, 95.0)
    assert (usage.size, usage.spot, usage.location, usage.job) == (
        "Standard_D2ads_v5",
        False,
        "westeurope",
        "42",
    )
    assert (usage.price_per_hour, usage.currency, usage.price_source) == (0.2, "USD", "admin")
    assert usage.cost == round(390 / 3600 * 0.2, 6)
    assert await fleet.usage.since(T0) == [usage]
    # The start it was made from is spent.
    assert await fleet.usage.start_of("github", name) is None


async def test_the_forges_own_queued_and_started_times_win() -> None:
    """Times the start hook carried decide the wait and busy time, even for a job no provision claimed."""
    fleet = Fleet()
    name = await fleet.provision(42, queued_at=T0)
    fleet.clock.t = T0 + 100
    # Job 43 took the runner made for 42 (runners serve the pool): its provision never claimed it.
    await fleet.start(name, 43, job_queued_at=T0 + 40, job_started_at=T0 + 90)
    fleet.clock.t = T0 + 400
    usage = (await fleet.releaser()(fleet.release_request(name, 43))).usage
    assert usage is not None
    assert (usage.job, usage.wait_s, usage.busy_seconds) == ("43", 50.0, 310.0)


async def test_the_release_log_carries_vm_seconds_and_cost() -> None:
    """`runner.released` says how long the VM lived and what it cost, and nothing secret."""
    fleet = Fleet()
    name = await fleet.provision(42, queued_at=T0)
    fleet.clock.t += 1800
    with capture_logs() as logs:
        await fleet.releaser()(fleet.release_request(name, 42))
    [released] = [entry for entry in logs if entry["event"] == "runner.released"]
    assert released["vm_seconds"] == 1800.0
    assert released["cost"] == pytest.approx(0.1)
    assert (released["currency"], released["price_source"], released["spot"]) == ("USD", "admin", False)


class UsageUnwritable(MemoryStateTable):
    """A state table whose usage partitions cannot be written (Storage down for them)."""

    async def insert(self, partition: str, key: str, data: Data) -> Record:
        if partition.startswith("usage-"):
            raise ConnectionError("storage unreachable")
        return await super().insert(partition, key, data)


async def test_a_usage_row_that_cannot_be_written_is_a_gap_not_a_failed_release() -> None:
    """The VM is deleted and the release completes; the lost row is logged as usage.not_recorded
    with the release's context, and no usage is returned."""
    fleet = Fleet(table=UsageUnwritable())
    name = await fleet.provision(42, queued_at=T0)
    fleet.clock.t += 600
    with capture_logs() as logs:
        result = await fleet.releaser()(fleet.release_request(name, 42))
    assert (result.outcome, result.vm_deleted, result.usage) == ("released", True, None)
    [lost] = [entry for entry in logs if entry["event"] == "usage.not_recorded"]
    assert (lost["runner"], lost["job_id"], lost["error"]) == (name, 42, "ConnectionError")


async def test_a_spot_vm_is_priced_at_the_spot_price() -> None:
    """A VM Azure says is Spot costs the spot figure, not the on-demand one."""
    fleet = Fleet()
    name = await fleet.provision(7, "aks-spot", queued_at=T0)
    fleet.clock.t += 3600
    result = await fleet.releaser()(fleet.release_request(name, 7, "aks-spot"))
    assert result.usage is not None
    assert (result.usage.spot, result.usage.price_per_hour, result.usage.cost) == (True, 0.02, 0.02)


async def test_a_repeated_release_writes_one_row() -> None:
    """The same release twice (the VM gone, or still reading Deleting) leaves one usage row."""
    fleet = Fleet()
    name = await fleet.provision(42, queued_at=T0)
    vm = await fleet.compute.get_vm(POOL, name)
    assert vm is not None
    fleet.clock.t += 600
    first = await fleet.releaser()(fleet.release_request(name, 42))
    again = await fleet.releaser()(fleet.release_request(name, 42))
    assert first.usage is not None and again.usage is None
    # Azure answers Deleting for a while: the VM is still read, its row is found, nothing is added.
    fleet.clock.t += 30
    assert await fleet.metering().vm_gone(POOL, "github", vm, job="42") is None
    twice = await asyncio.gather(*(fleet.metering().vm_gone(POOL, "github", vm, job="42") for _ in range(2)))
    assert twice == [None, None]
    assert len(await fleet.usage.since(T0)) == 1


async def test_concurrent_releases_of_one_vm_write_it_once() -> None:
    """Two workers releasing the same VM at once: one of them writes the row."""
    fleet = Fleet()
    name = await fleet.provision(42, queued_at=T0)
    vm = await fleet.compute.get_vm(POOL, name)
    assert vm is not None
    fleet.clock.t += 60
    results = await asyncio.gather(
        *(fleet.metering().vm_gone(POOL, "github", vm, job="42") for _ in range(3))
    )
    assert sum(result is not None for result in results) == 1
    assert len(await fleet.usage.since(T0)) == 1


async def test_a_second_vm_of_the_same_name_has_a_row_of_its_own() -> None:
    """A job reopened and made again reuses its runner name: each VM is one row."""
    fleet = Fleet()
    base = VmInfo(
        NAME, "rg-runners", "Standard_D2ads_v5", {"created-at": "2026-11-30T10:00:00+00:00"}, "Deleting"
    )
    later = dataclasses.replace(base, tags={"created-at": "2026-11-30T11:00:00+00:00"})
    fleet.clock.t = T0 + 1800
    assert await fleet.metering().vm_gone(POOL, "github", base, job="42") is not None
    fleet.clock.t = T0 + 5400
    assert await fleet.metering().vm_gone(POOL, "github", later, job="42") is not None
    rows = await fleet.usage.since(T0)
    assert [(u.runner, u.vm_seconds) for u in rows] == [(NAME, 1800.0), (NAME, 1800.0)]


async def test_a_release_just_after_midnight_finds_yesterdays_row() -> None:
    """A release repeated across midnight UTC finds the row written the day before."""
    fleet = Fleet()
    vm = VmInfo(NAME, "rg", "Standard_D2ads_v5", {"created-at": "2026-11-30T23:00:00+00:00"}, "Deleting")
    fleet.clock.t = T0 + 13.5 * 3600  # 23:30
    assert await fleet.metering().vm_gone(POOL, "github", vm, job="42") is not None
    fleet.clock.t += 3600  # 00:30 the next day
    assert await fleet.metering().vm_gone(POOL, "github", vm, job="42") is None


async def test_without_a_price_the_cost_is_unknown_not_invented() -> None:
    """A size no table prices gets no cost and `unknown` as its source."""
    fleet = Fleet()
    vm = VmInfo(NAME, "rg", "Standard_NC4as_T4_v3", {"created-at": "2026-11-30T10:00:00+00:00"}, "Deleting")
    fleet.clock.t = T0 + 600
    usage = await fleet.metering(PriceBook()).vm_gone(POOL, "github", vm, job="42")
    assert usage is not None
    assert (usage.cost, usage.currency, usage.price_per_hour, usage.price_source) == (
        None,
        None,
        None,
        "unknown",
    )
    [stored] = await fleet.usage.since(T0)
    assert stored == usage


async def test_without_a_job_start_busy_and_wait_are_unknown() -> None:
    """A release whose job start was never heard of has VM time and cost, but no busy time or wait."""
    fleet = Fleet()
    name = await fleet.provision(42, queued_at=T0 - 10)
    fleet.clock.t += 300
    usage = (await fleet.releaser()(fleet.release_request(name, 42))).usage
    assert usage is not None
    assert (usage.busy_seconds, usage.wait_s, usage.queued_at) == (None, None, T0 - 10)
    assert usage.vm_seconds == 300.0


async def test_the_vm_creation_time_is_its_tag_else_azures() -> None:
    """The created-at tag decides; Azure's timeCreated stands in without it; neither: no row."""
    from datetime import UTC, datetime

    tagged = VmInfo(NAME, "rg", "s", {"created-at": "2026-11-30T10:00:00+00:00"}, "Succeeded")
    assert vm_created_at(tagged) == T0
    untagged = dataclasses.replace(tagged, tags={}, created_at=datetime.fromtimestamp(T0 + 7, UTC))
    assert vm_created_at(untagged) == T0 + 7
    assert vm_created_at(dataclasses.replace(untagged, created_at=None)) is None
    assert (
        await Fleet().metering().vm_gone(POOL, "github", dataclasses.replace(untagged, created_at=None))
        is None
    )


async def test_a_vm_the_reconciler_deletes_has_its_usage_written() -> None:
    """A VM that never came up, deleted by the reconciler, is a row of idle time with no job."""
    world = World()
    name = await world.provision(1)
    metering = Metering(world.state, PRICES, now=world.clock)
    reconciler = dataclasses.replace(world.reconciler(), metering=metering)
    world.clock.t += 400
    await reconciler()
    world.clock.t += 60
    await reconciler()
    [usage] = await UsageLog(world.state.table, world.clock).since(world.clock.t - 3600)
    assert (usage.runner, usage.job, usage.ended_by, usage.vm_seconds) == (name, "", "reconcile", 460.0)
    assert usage.busy_seconds is None and usage.cost == round(460 / 3600 * 0.2, 6)


def test_a_usage_row_reads_back_as_written() -> None:
    """Every field survives the table: none dropped, none renamed; unknowns come back None."""
    usage = Usage(
        runner=NAME,
        pool="aks-prod",
        forge="github",
        job="42",
        size="Standard_D2ads_v5",
        spot=False,
        location="westeurope",
        created_at=T0,
        released_at=T0 + 100.5,
        queued_at=None,
        started_at=T0 + 20,
        cost=0.0042,
        currency="USD",
        price_per_hour=0.1512,
        price_source="shipped",
    )
    data = usage.as_data()
    assert {k: data[k] for k in ("vm_seconds", "busy_seconds", "wait_s")} == {
        "vm_seconds": 100.5,
        "busy_seconds": 80.5,
        "wait_s": None,
    }
    table = MemoryStateTable()

    async def roundtrip() -> Usage:
        record = await table.insert("usage-20261130", NAME, data)
        return Usage.from_record(record)

    assert asyncio.run(roundtrip()) == usage
