"""The reconciler keeps each pool at its wanted count: warm runners asked for, spared, and recycled."""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from runner_fleet import logs, naming, runtime
from runner_fleet.adapters.memory.queue import MemoryWorkQueue
from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.cli import reconcile as reconcile_cli
from runner_fleet.messages import PoolRunnerRequest, ProvisionRequest, parse_provision_queue
from runner_fleet.ports.compute import VmSpec
from runner_fleet.ports.feeds import WaitingJob
from runner_fleet.ports.forge import RunnerInfo, RunnerScope
from runner_fleet.ports.queue import PROVISION_QUEUE
from runner_fleet.settings import load_service_settings
from runner_fleet.settings.pool import Pool
from runner_fleet.state.pool_requests import KEEP_S
from runner_fleet.state.runner_starts import RunnerStarts
from runner_fleet.state.store import FleetState
from runner_fleet.usecases.create_runner import base_tags
from runner_fleet.usecases.provision_pool_runner import PoolRunnerProvisioner
from runner_fleet.usecases.reconcile.reconciler import IDLE_ELAPSED_CAP_S, Reconciler, ReconcileReport
from runner_fleet.usecases.replace_runner import RunnerReplacer
from runner_fleet.warm.demand import DemandLog
from runner_fleet.workers import ProvisionWork, run_provision
from tests.builders import make_pool, make_provisioner
from tests.fakes import FakeCompute, FakeRegistry
from tests.unit.test_reconciler import Clock, FakeFeed

LIMITS = {"boot_timeout_s": 300, "idle_timeout_s": 600, "max_lifetime_s": 3600, "max_runners": 10}


def warm_pool(warm: int = 2, **limits: Any) -> Pool:
    return make_pool("aks-prod", limits=LIMITS | {"warm": warm} | limits)


@dataclass
class LaggingRegistry(FakeRegistry):
    """GitHub's runners API as it is: `busy` reads false for `lag_s` after a job is assigned.

    `delete_refuses_busy`: DELETE refuses a runner that truly has a job (the usual answer); False:
    it goes by the lagging flag and succeeds, as terraform-aws-github-runner#5228 saw it do.
    """

    clock: Clock = field(default_factory=Clock)
    lag_s: float = 60.0
    delete_refuses_busy: bool = True
    assigned_at: dict[str, float] = field(default_factory=dict)

    def assign(self, name: str, job_id: int) -> None:
        """A job starts on the runner now; its flag shows it only after the lag."""
        self.assigned_at[name] = self.clock()
        runner = next(r for r in self.runners.values() if r.name == name)
        self.runners[runner.runner_id] = replace(runner, busy=True, job_id=job_id)

    def _reported(self, runner: RunnerInfo) -> RunnerInfo:
        at = self.assigned_at.get(runner.name)
        if at is not None and self.clock() - at < self.lag_s:
            return replace(runner, busy=False, job_id=None)
        return runner

    async def list_runners(self, scope: RunnerScope) -> list[RunnerInfo]:
        return [self._reported(r) for r in await super().list_runners(scope)]

    async def get(self, scope: RunnerScope, runner_id: int) -> RunnerInfo | None:
        runner = await super().get(scope, runner_id)
        return None if runner is None else self._reported(runner)

    async def find(self, scope: RunnerScope, name: str) -> RunnerInfo | None:
        runner = await super().find(scope, name)
        return None if runner is None else self._reported(runner)

    async def remove(self, scope: RunnerScope, runner_id: int) -> bool:
        runner = self.runners.get(runner_id)
        if runner is not None and runner.busy and not self.delete_refuses_busy:
            del self.runners[runner_id]
            self.removed.append(runner_id)
            return True
        return await super().remove(scope, runner_id)


@dataclass
class World:
    pool: Pool = field(default_factory=warm_pool)
    clock: Clock = field(default_factory=Clock)
    compute: FakeCompute = field(default_factory=FakeCompute)
    registry: LaggingRegistry = field(init=False)
    queue: MemoryWorkQueue = field(default_factory=MemoryWorkQueue)
    feed: FakeFeed = field(default_factory=FakeFeed)
    table: MemoryStateTable = field(default_factory=MemoryStateTable)
    state: FleetState = field(init=False)
    demand: DemandLog = field(init=False)

    def __post_init__(self) -> None:
        self.registry = LaggingRegistry(clock=self.clock)
        self.state = FleetState(self.table, clock=self.clock)
        self.demand = DemandLog(self.table, clock=self.clock)

    def reconciler(self) -> Reconciler:
        return Reconciler(
            {self.pool.name: self.pool},
            self.state,
            self.compute,
            {self.pool.forge: self.registry},
            self.queue,
            feeds={self.pool.forge: self.feed},
            now=self.clock,
            demand=self.demand,
        )

    async def round(self, *, after_s: float = 60.0, dry_run: bool = False) -> ReconcileReport:
        self.clock.t += after_s
        return await self.reconciler()(dry_run=dry_run)

    async def add_runner(self, key: str, *, status: str = "online", age_s: float = 300.0) -> str:
        """A pool runner as its provision leaves it: registered, and a VM tagged `kind: pool`."""
        name = naming.pool_runner_name(self.pool.name, self.pool.forge, key)
        await self.registry.register(RunnerScope.of_pool(self.pool), name)
        self.registry.set_status(name, status)
        tags = base_tags(self.pool, self.pool.forge, name, self.clock.t - age_s) | {"kind": "pool"}
        self.compute.vms[name] = VmSpec(name, self.pool, "Standard_D2ads_v5", "", tags, "ssh-ed25519 AAAA")
        return name

    async def sent(self) -> list[Any]:
        """The provision queue's messages, taken off it."""
        messages = await self.queue.receive(PROVISION_QUEUE, max_messages=32, visibility_timeout_s=30)
        for message in messages:
            await self.queue.delete(PROVISION_QUEUE, message)
        return [parse_provision_queue(m.body) for m in messages]

    async def serve_queue(self) -> int:
        """Run the provision queue's messages through the provision use cases, as the host would."""
        provisioner = make_provisioner(
            {self.pool.name: self.pool},
            self.state,
            self.compute,
            {self.pool.forge: self.registry},
            now=self.clock,
        )
        pool_runners = PoolRunnerProvisioner(
            provisioner.pools, self.state, provisioner.creation, now=self.clock
        )
        work = ProvisionWork(
            provisioner, pool_runners, RunnerReplacer(provisioner.pools, self.state, self.queue)
        )
        messages = await self.queue.receive(PROVISION_QUEUE, max_messages=32, visibility_timeout_s=30)
        for message in messages:
            await run_provision(
                message.body, message_id=message.id, dequeue_count=1, work=work, queue=self.queue
            )
            await self.queue.delete(PROVISION_QUEUE, message)
        return len(messages)

    def waiting(self, *job_ids: int, waited_s: float = 300) -> None:
        self.feed.waiting = [
            WaitingJob(
                ProvisionRequest(forge="github", pool=self.pool.name, job_id=job_id, org="example-org"),
                self.clock.t - waited_s,
            )
            for job_id in job_ids
        ]


@pytest.fixture
def world() -> World:
    return World()


def _warm_requests(messages: list[Any]) -> list[PoolRunnerRequest]:
    return [m for m in messages if isinstance(m, PoolRunnerRequest)]


async def test_a_pool_below_its_warm_target_asks_for_the_difference(world: World) -> None:
    """With no runner at all, a pool warm at 2 gets two pool-runner requests with distinct keys."""
    report = await world.round()
    requests = _warm_requests(await world.sent())
    assert [(r.pool, r.reason) for r in requests] == [("aks-prod", "warm")] * 2
    assert len({r.key for r in requests}) == 2
    assert report.pools["aks-prod"] == {
        "waiting": 0,
        "target": 2,
        "busy": 0,
        "coming": 0,
        "wanted": 2,
        "job_provisions": 0,
        "warm_requests": 2,
    }


async def test_requests_not_yet_claimed_count_until_they_expire(world: World) -> None:
    """A request waiting in the queue is not sent again next round, but is after ten minutes unclaimed."""
    assert (await world.round()).pools["aks-prod"]["warm_requests"] == 2
    again = await world.round()
    assert (again.pools["aks-prod"]["coming"], again.pools["aks-prod"]["warm_requests"]) == (2, 0)
    late = await world.round(after_s=KEEP_S)
    assert late.pools["aks-prod"]["warm_requests"] == 2
    assert len(_warm_requests(await world.sent())) == 4


async def test_served_requests_become_runners_that_count_as_coming(world: World) -> None:
    """The provision makes the two requested runners; the next round sees them coming and asks for none."""
    await world.round()
    assert await world.serve_queue() == 2
    names = sorted(world.compute.vms)
    assert len(names) == 2 and all(world.compute.vms[n].tags.get("kind") == "pool" for n in names)
    report = await world.round()
    assert (report.pools["aks-prod"]["coming"], report.pools["aks-prod"]["warm_requests"]) == (2, 0)
    assert await world.table.query("pool-request") == []  # claimed, so no longer noted


async def test_idle_warm_runners_are_never_judged_wrong(world: World) -> None:
    """Warm runners within the target, idle for hours, booting, or VM-only pool runners are never marked."""
    idle = [await world.add_runner(f"k{i}") for i in range(2)]
    for _ in range(10):
        report = await world.round(after_s=300)
        assert report.marked == [] and report.acted == []
    assert set(idle) <= set(world.compute.vms)


async def test_an_idle_runner_beyond_the_target_still_retires_at_its_idle_timeout(world: World) -> None:
    """Of three idle runners and a target of 2, the oldest retires at the idle timeout, deregistered first."""
    old = await world.add_runner("old", age_s=900)
    kept = [await world.add_runner(f"new{i}", age_s=300 - i) for i in range(2)]
    await world.round()
    marked = await world.round(after_s=700)
    assert [(m["runner"], m["action"]) for m in marked.marked] == [(old, "retire")]
    acted = await world.round()
    assert [(a["runner"], a["outcome"]) for a in acted.acted] == [(old, "retired")]
    assert sorted(world.compute.vms) == sorted(kept)


async def test_waiting_jobs_get_their_own_provisions_and_the_target_the_rest(world: World) -> None:
    """One idle runner, one waiting job, a target of 2: the job is left to the idle runner, two are asked."""
    await world.add_runner("idle")
    world.waiting(7)
    report = await world.round()
    assert report.jobs_enqueued == []
    assert report.pools["aks-prod"] | {} == {
        "waiting": 1,
        "target": 2,
        "busy": 0,
        "coming": 1,
        "wanted": 3,
        "job_provisions": 0,
        "warm_requests": 2,
    }
    world.waiting(7, 8, 9)
    more = await world.round()
    # The idle runner and the two requested take the three jobs; two more are asked for to stay warm.
    assert more.jobs_enqueued == []
    assert (more.pools["aks-prod"]["coming"], more.pools["aks-prod"]["warm_requests"]) == (3, 2)


async def test_jobs_beyond_the_runners_coming_get_provisions_of_their_own(world: World) -> None:
    """With no warm target, each waiting job beyond the runners coming gets a job provision; no warm one."""
    world.pool = warm_pool(0)
    await world.add_runner("idle")
    world.waiting(7, 8, 9)
    report = await world.round()
    assert report.jobs_enqueued == ["github:8", "github:9"]
    assert (report.pools["aks-prod"]["job_provisions"], report.pools["aks-prod"]["warm_requests"]) == (2, 0)
    assert _warm_requests(await world.sent()) == []


async def test_busy_runners_and_capacity_bound_the_warm_requests() -> None:
    """At max_runners 4 with three busy runners, one warm runner is asked for, not two."""
    world = World(pool=warm_pool(2, max_runners=4))
    for i in range(3):
        name = await world.add_runner(f"busy{i}")
        world.registry.set_status(name, "online", busy=True)
    report = await world.round()
    assert (report.pools["aks-prod"]["busy"], report.pools["aks-prod"]["warm_requests"]) == (3, 1)


async def test_runners_past_max_lifetime_are_recycled_one_at_a_time(world: World) -> None:
    """Idle runners past max lifetime go one per round at most, each replaced, so the pool never runs dry."""
    world.pool = warm_pool(3)
    old = {await world.add_runner(f"old{i}", age_s=3000 + i) for i in range(3)}
    await world.round()  # first seen idle
    gone: list[int] = []
    for _ in range(12):
        report = await world.round(after_s=200)
        retired = [a for a in report.acted if a["runner"] in old]
        assert len(retired) <= 1 and all(a["action"] == "retire" for a in retired)
        gone.append(len(old - set(world.compute.vms)))
        await world.serve_queue()  # replacements, as the deficit asks for them
        for name in world.compute.vms:
            if name not in old and world.registry.runners:
                await _online(world, name)
    assert gone[-1] == 3, gone
    assert all(b - a <= 1 for a, b in itertools.pairwise(gone))
    assert len(world.compute.vms) >= 3  # the replacements


async def _online(world: World, name: str) -> None:
    runner = next((r for r in world.registry.runners.values() if r.name == name), None)
    if runner is not None and runner.status != "online":
        world.registry.set_status(name, "online")


async def test_when_the_target_drops_the_former_warm_runners_leave_one_per_round(world: World) -> None:
    """A target falling from 3 to 0 retires the three idle warm runners one round after another."""
    world.pool = warm_pool(3)
    names = {await world.add_runner(f"w{i}", age_s=600 + i) for i in range(3)}
    await world.round()
    await world.round(after_s=700)  # idle past the timeout, spared as warm
    assert names <= set(world.compute.vms)
    world.pool = warm_pool(0)
    remaining = []
    for _ in range(7):
        await world.round()
        remaining.append(len(names & set(world.compute.vms)))
    assert remaining[-1] == 0
    assert all(a - b <= 1 for a, b in itertools.pairwise([3, *remaining])), remaining


async def test_a_runner_that_took_a_job_while_its_busy_flag_lags_is_not_retired(world: World) -> None:
    """A suspect that starts a job before the confirming round survives though the forge still says idle
    and would let it be deleted: the webhook's reported start is enough."""
    world.pool = warm_pool(0)
    world.registry.delete_refuses_busy = False
    name = await world.add_runner("r")
    await world.round()
    marked = await world.round(after_s=700)
    assert [m["runner"] for m in marked.marked] == [name]
    world.clock.t += 50
    world.registry.assign(name, job_id=42)
    await RunnerStarts(world.table).note("github", name, 42, world.clock.t)
    report = await world.round(after_s=10)  # 10 s into the job: the flag reads idle for 50 s more
    assert report.acted == [] and name in report.recovered
    assert name in world.compute.vms and world.registry.removed == []


async def test_without_a_reported_start_the_refused_delete_still_saves_the_runner(world: World) -> None:
    """With the start's webhook lost, the forge refusing to delete a runner with a job keeps its VM."""
    world.pool = warm_pool(0)
    name = await world.add_runner("r")
    await world.round()
    await world.round(after_s=700)
    world.clock.t += 40
    world.registry.assign(name, job_id=42)
    report = await world.round(after_s=10)
    assert [(a["runner"], a["outcome"]) for a in report.acted] == [(name, "left alone: runner became busy")]
    assert name in world.compute.vms


async def test_a_runner_with_a_reported_start_is_busy_not_coming(world: World) -> None:
    """A warm runner a job just took counts as busy, so the round asks for its replacement at once."""
    world.pool = warm_pool(1)
    name = await world.add_runner("r")
    world.registry.assign(name, job_id=42)
    await RunnerStarts(world.table).note("github", name, 42, world.clock.t)
    report = await world.round(after_s=5)
    figures = report.pools["aks-prod"]
    assert (figures["busy"], figures["coming"], figures["warm_requests"]) == (1, 0, 1)
    assert await world.state.idle_since() == {}


async def test_reported_starts_are_purged_after_a_few_minutes(world: World) -> None:
    """A round deletes job starts noted more than ten minutes ago; recent ones stay."""
    starts = RunnerStarts(world.table, clock=world.clock)
    await starts.note("github", "rf-aks-prod-00000000aa", 1, world.clock.t - 700)
    await starts.note("github", "rf-aks-prod-00000000bb", 2, world.clock.t)
    await world.round(after_s=1)
    assert [r.key for r in await world.table.query("runner-start-github")] == ["rf-aks-prod-00000000bb"]


async def test_idle_vm_time_is_added_between_rounds_with_gaps_capped(world: World) -> None:
    """Each round adds idle VMs x the time since the last round, at most three minutes of it."""
    world.pool = warm_pool(0)
    for i in range(2):
        await world.add_runner(f"r{i}")
    await world.round()  # nothing to measure from yet
    await world.round(after_s=60)
    assert (await world.demand.snapshot("aks-prod", None, world.clock.t)).idle_vm_s_today == 120
    await world.round(after_s=3600)
    snapshot = await world.demand.snapshot("aks-prod", None, world.clock.t)
    assert snapshot.idle_vm_s_today == 120 + 2 * IDLE_ELAPSED_CAP_S


async def test_a_runner_first_seen_online_notes_its_cold_start_once(world: World) -> None:
    """The cold start is first seen online minus the VM's created-at, noted on the first sighting only."""
    name = await world.add_runner("r", status="offline", age_s=30)
    await world.round(after_s=0)
    await world.round(after_s=60)  # still booting
    world.registry.set_status(name, "online")
    await world.round(after_s=60)
    assert (await world.demand.snapshot("aks-prod", None, world.clock.t)).cold_start_s == 150
    await world.round(after_s=60)
    assert (await world.demand.snapshot("aks-prod", None, world.clock.t)).cold_start_s == 150


async def test_no_cold_start_is_noted_across_a_gap_between_rounds(world: World) -> None:
    """A runner first seen online after an hour with no round notes no cold start: when it came is unknown."""
    name = await world.add_runner("r", status="offline", age_s=30)
    await world.round(after_s=0)
    world.registry.set_status(name, "online")
    await world.round(after_s=3600)
    assert (await world.demand.snapshot("aks-prod", None, world.clock.t)).cold_start_s is None
    await world.round(after_s=60)
    assert (await world.demand.snapshot("aks-prod", None, world.clock.t)).cold_start_s is None


async def test_a_dry_run_reports_the_warm_requests_and_sends_none(world: World) -> None:
    """--dry-run shows the pool's figures and sends or notes nothing."""
    report = await world.round(dry_run=True)
    assert report.pools["aks-prod"]["warm_requests"] == 2
    assert await world.sent() == []
    assert await world.table.query("pool-request") == []
    assert await world.table.query("reconcile-round") == []


def test_reconcile_json_shows_each_pools_figures(capsys: pytest.CaptureFixture[str]) -> None:
    """`runner-fleet reconcile --dry-run --json` prints target, coming, waiting and warm requests per pool."""
    settings = load_service_settings({"GITHUB_WEBHOOK_SECRET": "s" * 20, "GITHUB_TOKEN": "t" * 40})
    compute, registry = FakeCompute(), FakeRegistry()
    rt = runtime.Runtime(
        settings,
        (warm_pool(3),),
        MemoryWorkQueue(),
        MemoryStateTable(),
        lambda: compute,
        {"github": lambda: registry},
    )
    runtime.install(rt)
    try:
        code = reconcile_cli.run(argparse.Namespace(dry_run=True, json=True))
    finally:
        runtime.install(None)
        logs.configure("json", stream=sys.stderr)
    printed = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {k: printed["pools"]["aks-prod"][k] for k in ("target", "coming", "waiting", "warm_requests")} == {
        "target": 3,
        "coming": 0,
        "waiting": 0,
        "warm_requests": 3,
    }
