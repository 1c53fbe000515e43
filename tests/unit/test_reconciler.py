"""One reconcile round at a time, over in-memory fakes, with a clock the test moves."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from runner_fleet import naming
from runner_fleet.adapters.memory.queue import MemoryWorkQueue
from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.messages import ProvisionRequest, parse_provision
from runner_fleet.ports.feeds import WaitingJob
from runner_fleet.ports.queue import PROVISION_QUEUE
from runner_fleet.settings.pool import Pool
from runner_fleet.state.store import FleetState
from runner_fleet.usecases.reconcile.reconciler import Reconciler
from runner_fleet_dev.counting_table import CountingStateTable
from tests.builders import make_pool, make_provisioner
from tests.fakes import FakeCompute, FakeRegistry

POOL = make_pool("aks-prod", limits={"boot_timeout_s": 300, "idle_timeout_s": 600, "max_lifetime_s": 3600})


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


@dataclass
class FakeFeed:
    waiting: list[WaitingJob] = field(default_factory=list)
    redeliveries: int = 0

    async def waiting_jobs(self, pools: list[Pool]) -> list[WaitingJob]:
        return list(self.waiting)

    async def redeliver_failed(self, since_s: float) -> int:
        return self.redeliveries

    async def close(self) -> None:
        return None


@dataclass
class World:
    clock: Clock = field(default_factory=Clock)
    compute: FakeCompute = field(default_factory=FakeCompute)
    registry: FakeRegistry = field(default_factory=FakeRegistry)
    queue: MemoryWorkQueue = field(default_factory=MemoryWorkQueue)
    feed: FakeFeed = field(default_factory=FakeFeed)
    pool: Pool = POOL
    state: FleetState = field(init=False)

    def __post_init__(self) -> None:
        self.state = FleetState(MemoryStateTable(), clock=self.clock)

    def reconciler(self) -> Reconciler:
        forge = self.pool.forge
        return Reconciler(
            {self.pool.name: self.pool},
            self.state,
            self.compute,
            {forge: self.registry},
            self.queue,
            feeds={forge: self.feed},
            now=self.clock,
        )

    async def provision(self, job_id: int) -> str:
        provisioner = make_provisioner(
            {self.pool.name: self.pool},
            self.state,
            self.compute,
            {self.pool.forge: self.registry},
            now=self.clock,
        )
        request = ProvisionRequest(
            forge=self.pool.forge, pool=self.pool.name, job_id=job_id, org="example-org"
        )
        result = await provisioner(request, message_id=f"m-{job_id}")
        assert result.runner_name is not None
        return result.runner_name


@pytest.fixture
def world() -> World:
    return World()


async def test_a_never_registered_vm_is_marked_then_deleted_next_round(world: World) -> None:
    """Past the boot timeout, round one marks a suspect and round two deletes VM and registration."""
    name = await world.provision(1)
    world.clock.t += 400
    first = await world.reconciler()()
    assert [m["runner"] for m in first.marked] == [name] and first.acted == []
    assert name in world.compute.vms
    world.clock.t += 60
    second = await world.reconciler()()
    assert [a["runner"] for a in second.acted] == [name]
    assert world.compute.vms == {} and world.registry.runners == {}


async def test_a_round_reads_no_finished_job_record_however_many_there_are(world: World) -> None:
    """A round reads no finished job record, neither per forge nor per suspect: only those it acts on."""
    table = CountingStateTable(MemoryStateTable())
    world.state = FleetState(table, clock=world.clock)
    for job in range(500):
        await world.state.settle_job("github", str(10_000 + job))
    names = [await world.provision(job) for job in (1, 2)]  # their VMs will never register
    world.clock.t += 400
    await world.reconciler()()
    world.clock.t += 60
    table.reset()

    report = await world.reconciler()()

    assert sorted(a["runner"] for a in report.acted) == sorted(names)
    assert table.rows_read["job-github"] == 2  # the two reaped runners' own jobs, read to reopen them


async def test_the_idle_record_of_a_runner_gone_is_forgotten(world: World) -> None:
    """A runner seen idle that then vanishes (VM and registration deleted elsewhere) leaves no idle row."""
    name = await world.provision(1)
    world.registry.set_status(name, "online")
    await world.reconciler()()
    assert set(await world.state.idle_since()) == {name}
    assert await world.state.idle_since_of(name) == (await world.state.idle_since())[name]
    world.compute.vms.clear()
    world.registry.runners.clear()

    await world.reconciler()()

    assert await world.state.idle_since() == {}
    assert await world.state.idle_since_of(name) is None


GITLAB_POOL = make_pool(
    "gl-aks",
    forge="gitlab",
    github=None,
    gitlab={"group_id": 100},
    limits={"boot_timeout_s": 300, "idle_timeout_s": 600, "max_lifetime_s": 3600},
)


async def test_a_busy_gitlab_runner_is_deregistered_in_the_same_round_and_its_vm_kept() -> None:
    """A GitLab registration whose job started is deleted at once (no suspect round); the VM runs on."""
    world = World(pool=GITLAB_POOL, registry=FakeRegistry(refuses_busy=False))
    name = await world.provision(1)
    world.registry.set_status(name, "online", busy=True, job_id=77)

    report = await world.reconciler()()

    assert [(a["runner"], a["action"], a["outcome"]) for a in report.acted] == [
        (name, "deregister", "deregistered")
    ]
    assert world.registry.runners == {} and name in world.compute.vms
    assert await world.state.job_binding("gitlab", "77") == (name, 100)
    later = await world.reconciler()()
    assert later.marked == [] and later.acted == [] and name in world.compute.vms


async def test_a_vm_still_booting_is_not_touched(world: World) -> None:
    """Within the boot timeout nothing is marked or deleted."""
    await world.provision(1)
    world.clock.t += 120
    for _ in range(3):
        report = await world.reconciler()()
        world.clock.t += 60
        assert report.marked == [] and report.acted == []
    assert len(world.compute.vms) == 1


async def test_a_suspect_that_recovered_is_forgotten(world: World) -> None:
    """A runner marked for being offline that comes online before the next round is left alone."""
    name = await world.provision(1)
    world.clock.t += 400
    await world.reconciler()()
    world.registry.set_status(name, "online", busy=True)
    world.clock.t += 60
    report = await world.reconciler()()
    assert report.acted == [] and name in report.recovered
    assert await world.state.suspects() == []


async def test_a_busy_runner_is_never_touched(world: World) -> None:
    """A busy runner is not marked even when older than its boot and idle timeouts."""
    name = await world.provision(1)
    world.registry.set_status(name, "online", busy=True)
    for _ in range(3):
        world.clock.t += 700
        report = await world.reconciler()()
        assert report.marked == [] and report.acted == []


async def test_the_recheck_spares_a_runner_that_got_busy_since_it_was_marked(world: World) -> None:
    """An idle runner marked for retirement that takes a job before the confirming round is kept."""
    name = await world.provision(1)
    world.registry.set_status(name, "online")
    await world.reconciler()()  # first seen idle
    world.clock.t += 700
    marked = await world.reconciler()()
    assert [m["action"] for m in marked.marked] == ["retire"]
    world.registry.set_status(name, "online", busy=True)
    world.clock.t += 60
    report = await world.reconciler()()
    assert report.acted == []
    assert name in world.compute.vms


async def test_dry_run_changes_nothing(world: World) -> None:
    """--dry-run reports what it would do and writes or deletes nothing."""
    name = await world.provision(1)
    world.clock.t += 400
    report = await world.reconciler()(dry_run=True)
    assert [m["runner"] for m in report.marked] == [name]
    assert await world.state.suspects() == []
    assert name in world.compute.vms


async def test_a_finished_runners_vm_is_deleted(world: World) -> None:
    """A VM whose JIT registration is gone (its job done, no release came) is deleted after two rounds."""
    name = await world.provision(1)
    world.registry.runners.clear()
    await world.reconciler()()
    world.clock.t += 60
    await world.reconciler()()
    assert name not in world.compute.vms


async def test_a_registration_whose_vm_is_gone_is_removed(world: World) -> None:
    """A registration of ours with no VM (and no provision in flight) is removed."""
    name = await world.provision(1)
    del world.compute.vms[name]
    await world.reconciler()()
    world.clock.t += 60
    await world.reconciler()()
    assert world.registry.runners == {}


async def test_a_missed_job_is_provisioned(world: World) -> None:
    """A job waiting on the forge without any runner coming is enqueued for provisioning."""
    request = ProvisionRequest(forge="github", pool=POOL.name, job_id=99, org="example-org")
    world.feed.waiting = [WaitingJob(request, world.clock.t - 120)]
    report = await world.reconciler()()
    assert report.jobs_enqueued == ["github:99"]
    [message] = await world.queue.receive(PROVISION_QUEUE, max_messages=5, visibility_timeout_s=30)
    assert parse_provision(message.body).job_id == 99


async def test_jobs_with_a_runner_coming_or_too_new_are_not_enqueued(world: World) -> None:
    """A job already provisioned, or queued seconds ago (the webhook may still arrive), is not enqueued."""
    await world.provision(5)
    served = ProvisionRequest(forge="github", pool=POOL.name, job_id=5, org="example-org")
    fresh = ProvisionRequest(forge="github", pool=POOL.name, job_id=6, org="example-org")
    world.feed.waiting = [WaitingJob(served, world.clock.t - 300), WaitingJob(fresh, world.clock.t - 5)]
    report = await world.reconciler()()
    assert report.jobs_enqueued == []


async def test_a_job_whose_vm_was_reaped_gets_a_new_runner(world: World) -> None:
    """After its never-booting VM is reaped, a still-waiting job is enqueued and provisioned again."""
    name = await world.provision(7)
    world.clock.t += 400
    await world.reconciler()()
    world.clock.t += 60
    request = ProvisionRequest(forge="github", pool=POOL.name, job_id=7, org="example-org")
    world.feed.waiting = [WaitingJob(request, world.clock.t - 500)]
    report = await world.reconciler()()
    assert report.jobs_enqueued == ["github:7"]
    assert await world.provision(7) == name == naming.runner_name(POOL.name, "github", "7")
    assert name in world.compute.vms


async def test_a_waiting_job_is_not_reprovisioned_while_an_idle_runner_of_its_pool_exists(
    world: World,
) -> None:
    """Runners are interchangeable: a reopened waiting job gets no new VM while an idle runner can take it."""
    idle = await world.provision(1)
    world.registry.set_status(idle, "online")
    await world.state.mark_job("github", "2", "reaped")
    request = ProvisionRequest(forge="github", pool=POOL.name, job_id=2, org="example-org")
    world.feed.waiting = [WaitingJob(request, world.clock.t - 120)]
    assert (await world.reconciler()()).jobs_enqueued == []
    del world.compute.vms[idle]
    world.registry.runners.clear()
    assert (await world.reconciler()()).jobs_enqueued == ["github:2"]


def _waiting(world: World, job_id: int, waited_s: float = 300) -> WaitingJob:
    request = ProvisionRequest(forge="github", pool=POOL.name, job_id=job_id, org="example-org")
    return WaitingJob(request, world.clock.t - waited_s)


async def test_a_provisioned_job_whose_runner_vanished_is_reopened_and_enqueued(world: World) -> None:
    """A job recorded as provisioned whose VM and registration are gone, still waiting, gets a new runner."""
    name = await world.provision(8)
    del world.compute.vms[name]  # deleted by a release of the other job its runner ran
    world.registry.runners.clear()
    world.feed.waiting = [_waiting(world, 8)]
    report = await world.reconciler()()
    assert report.jobs_enqueued == ["github:8"]
    record = await world.state.job("github", "8")
    assert record is not None and record.data["state"] == "reaped"
    assert await world.provision(8) == name and name in world.compute.vms


async def test_a_provisioned_job_whose_runner_still_exists_is_left_alone(world: World) -> None:
    """A provisioned job with its VM still there (booting, or about to take the job) is not enqueued."""
    await world.provision(9)
    world.feed.waiting = [_waiting(world, 9)]
    assert (await world.reconciler()()).jobs_enqueued == []


async def test_a_job_whose_lease_expired_is_enqueued_but_a_live_lease_is_respected(world: World) -> None:
    """A provision lease left by a dead worker or a poisoned message no longer blocks recovery."""
    name = naming.runner_name(POOL.name, "github", "10")
    await world.state.claim_job("github", "10", runner_name=name, pool=POOL.name, owner="dead", lease_s=900)
    world.feed.waiting = [_waiting(world, 10)]
    assert (await world.reconciler()()).jobs_enqueued == []
    world.clock.t += 901
    assert (await world.reconciler()()).jobs_enqueued == ["github:10"]


async def test_a_recovered_job_is_not_enqueued_again_while_its_copy_waits(world: World) -> None:
    """One copy per missed job: later rounds enqueue none until the wait runs out or its runner is reaped."""
    world.feed.waiting = [_waiting(world, 11)]
    reconciler = world.reconciler()
    assert (await reconciler()).jobs_enqueued == ["github:11"]
    world.clock.t += 60
    assert (await reconciler()).jobs_enqueued == []
    world.clock.t += reconciler.reenqueue_after_s
    assert (await reconciler()).jobs_enqueued == ["github:11"]
    assert len(await world.queue.receive(PROVISION_QUEUE, max_messages=10, visibility_timeout_s=30)) == 2


async def test_a_reaped_runner_lets_its_job_be_recovered_at_once(world: World) -> None:
    """Reopening a job (its runner reaped) forgets the earlier recovery, so the next round enqueues it."""
    world.feed.waiting = [_waiting(world, 12)]
    assert (await world.reconciler()()).jobs_enqueued == ["github:12"]
    await world.provision(12)
    await world.state.reopen_job("github", "12")
    del world.compute.vms[naming.runner_name(POOL.name, "github", "12")]
    world.registry.runners.clear()
    world.clock.t += 60
    assert (await world.reconciler()()).jobs_enqueued == ["github:12"]
