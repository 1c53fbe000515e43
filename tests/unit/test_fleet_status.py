"""`runner-fleet status`: one row per pool, read through the ports, classified as the reconciler does."""

from __future__ import annotations

import asyncio
import io
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from rich.console import Console

from runner_fleet import naming, runtime
from runner_fleet.adapters.memory.queue import MemoryWorkQueue
from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.cli import build_parser, main
from runner_fleet.cli import status as status_cli
from runner_fleet.messages import ProvisionRequest
from runner_fleet.ports.feeds import WaitingJob
from runner_fleet.ports.preflight import CheckResult, PreflightGate, PreflightReport
from runner_fleet.ports.queue import PROVISION_QUEUE
from runner_fleet.preflight.gate import AzurePreflightGate
from runner_fleet.settings import ServiceSettings
from runner_fleet.settings.pool import Pool
from runner_fleet.state.store import FleetState
from runner_fleet.state.usage import Usage, UsageLog
from runner_fleet.usecases.fleet_status import FleetStatus, read_fleet_status
from runner_fleet.usecases.reconcile.reconciler import Reconciler
from runner_fleet_dev.counting_table import CountingStateTable
from tests.builders import DEFAULT_SETTINGS, make_pool, make_provisioner
from tests.fakes import FakeCompute, FakeRegistry
from tests.unit.preflight_world import CLUSTER_VNET as AKS_VNET
from tests.unit.preflight_world import ZONE, cluster_pool, healthy_reader, link, zone
from tests.unit.test_reconciler import Clock

LIMITS = {"boot_timeout_s": 300, "idle_timeout_s": 600, "max_lifetime_s": 3600, "max_runners": 8}
STATES = ("creating", "booting", "idle", "busy", "retiring")


@dataclass
class CountingFeed:
    waiting: list[WaitingJob] = field(default_factory=list)
    fail: Exception | None = None
    scans: int = 0

    async def waiting_jobs(self, pools: list[Pool]) -> list[WaitingJob]:
        self.scans += 1
        if self.fail is not None:
            raise self.fail
        return list(self.waiting)

    async def redeliver_failed(self, since_s: float) -> int:
        raise AssertionError("a status reading redelivers nothing")

    async def close(self) -> None:
        return None


@dataclass
class FixedGate:
    checks: dict[str, tuple[CheckResult, ...]] = field(default_factory=dict)

    async def check(self, pool: Pool) -> PreflightReport:
        return PreflightReport(pool.name, self.checks.get(pool.name, ()))

    async def close(self) -> None:
        return None


@dataclass
class Fleet:
    """One pool (or more) over in-memory fakes, and a clock the test moves."""

    pools: tuple[Pool, ...] = (make_pool("aks-prod", limits=LIMITS),)
    clock: Clock = field(default_factory=Clock)
    compute: FakeCompute = field(default_factory=FakeCompute)
    registry: FakeRegistry = field(default_factory=FakeRegistry)
    queue: MemoryWorkQueue = field(default_factory=MemoryWorkQueue)
    feed: CountingFeed = field(default_factory=CountingFeed)
    table: CountingStateTable = field(default_factory=lambda: CountingStateTable(MemoryStateTable()))
    gates: list[PreflightGate] = field(default_factory=list)

    @property
    def state(self) -> FleetState:
        return FleetState(self.table, clock=self.clock)

    @property
    def usage(self) -> UsageLog:
        return UsageLog(self.table, self.clock)

    def reconciler(self) -> Reconciler:
        return Reconciler(
            {pool.name: pool for pool in self.pools},
            self.state,
            self.compute,
            {"github": self.registry},
            self.queue,
            feeds={"github": self.feed},
            now=self.clock,
        )

    async def provision(self, job_id: int, pool: str = "aks-prod") -> str:
        pools = {p.name: p for p in self.pools}
        provisioner = make_provisioner(
            pools, self.state, self.compute, {"github": self.registry}, now=self.clock
        )
        request = ProvisionRequest(forge="github", pool=pool, job_id=job_id, org="example-org")
        result = await provisioner(request, message_id=f"m-{job_id}")
        assert result.runner_name is not None
        return result.runner_name

    async def read(self) -> FleetStatus:
        return await read_fleet_status(self.pools, self.reconciler(), self.usage, self.gates)

    def waiting_job(self, job_id: int, waited_s: float, pool: str = "aks-prod") -> WaitingJob:
        request = ProvisionRequest(forge="github", pool=pool, job_id=job_id, org="example-org")
        return WaitingJob(request, self.clock() - waited_s)


def runner(job: int) -> str:
    return naming.runner_name("aks-prod", "github", str(job))


def usage_row(
    job: int, *, released_at: float, wait_s: float, busy_s: float = 300.0, cost: float = 0.01
) -> Usage:
    started = released_at - busy_s
    return Usage(
        runner=runner(job),
        pool="aks-prod",
        forge="github",
        job=str(job),
        size="Standard_D2ads_v5",
        spot=False,
        location="westeurope",
        created_at=started - 60,
        released_at=released_at,
        queued_at=started - wait_s,
        started_at=started,
        cost=cost,
        currency="USD",
        price_source="shipped",
    )


async def test_runners_are_counted_by_state_as_the_reconciler_classifies_them() -> None:
    """A VM being built is creating, built but not online booting, online idle, running a job busy,
    and powered off (its runner done) retiring."""
    fleet = Fleet()
    creating, _booting, idle, busy, retiring = [await fleet.provision(job) for job in range(1, 6)]
    fleet.compute.provisioning[creating] = "Creating"
    fleet.registry.set_status(idle, "online")
    fleet.registry.set_status(busy, "online", busy=True)
    fleet.compute.power[retiring] = "stopped"

    status = await fleet.read()

    [pool] = status.pools
    assert dict(pool.runners) == dict.fromkeys(STATES, 1)
    assert status.total_runners() == dict.fromkeys(STATES, 1)


async def test_a_reading_changes_nothing_where_a_round_would_act() -> None:
    """A reading writes no row, sends no message and deletes nothing, though a round would reap a
    powered-off VM, ask for warm runners and provision a missed job."""
    fleet = Fleet(pools=(make_pool("aks-prod", limits=LIMITS | {"warm": 2}),))
    done = await fleet.provision(1)
    fleet.compute.power[done] = "stopped"
    fleet.feed.waiting = [fleet.waiting_job(7, waited_s=600)]
    fleet.clock.t += 60
    fleet.table.reset()

    status = await fleet.read()

    writes = {
        op: n for op, n in fleet.table.operations.items() if op in {"insert", "replace", "upsert", "delete"}
    }
    assert writes == {}
    assert await fleet.queue.depth(PROVISION_QUEUE) == 0
    assert fleet.compute.deleted == [] and fleet.registry.removed == []
    [pool] = status.pools
    assert (pool.runners["retiring"], pool.waiting, pool.warm_target, pool.warm_mode) == (1, 1, 2, "static")


async def test_waiting_jobs_are_the_feeds_one_scan_also_inside_the_webhook_grace() -> None:
    """Each pool's waiting jobs come from one scan of its forge, those of the last seconds included
    (the reconciler leaves them to the webhooks), with the oldest one's wait."""
    pools = (make_pool("aks-prod", limits=LIMITS), make_pool("aks-dev", ("aks-dev",), limits=LIMITS))
    fleet = Fleet(pools=pools)
    fleet.feed.waiting = [
        fleet.waiting_job(1, waited_s=5),
        fleet.waiting_job(2, waited_s=95),
        fleet.waiting_job(3, waited_s=40, pool="aks-dev"),
    ]

    status = await fleet.read()

    assert fleet.feed.scans == 1
    prod, dev = status.pools
    assert (prod.waiting, prod.oldest_wait_s, dev.waiting, dev.oldest_wait_s) == (2, 95, 1, 40)
    assert status.total_waiting() == 3


async def test_a_scan_that_failed_leaves_waiting_unknown_and_says_why() -> None:
    """When the forge's scan fails, the pool's waiting count is unknown (not 0) and the error is shown."""
    fleet = Fleet()
    fleet.feed.fail = TimeoutError("slow")

    status = await fleet.read()

    [pool] = status.pools
    assert pool.waiting is None
    assert status.errors == ("github feed: TimeoutError",)
    assert status.as_dict()["pools"][0]["waiting"] is None


async def test_waits_are_those_of_jobs_started_in_the_last_hour_and_cost_that_of_today() -> None:
    """p50 / p95 wait: jobs that started in the last hour, released or still running; cost today:
    the VMs released since midnight UTC, not yesterday's."""
    fleet = Fleet()
    now = fleet.clock.t = 1_796_040_000.0  # 2026-11-30 12:00 UTC
    for row in (
        usage_row(1, released_at=now - 600, wait_s=10, cost=0.02),
        usage_row(2, released_at=now - 300, wait_s=30, cost=0.03),
        # Released in the hour, but its job started before it: in the cost, not the waits.
        usage_row(3, released_at=now - 60, wait_s=500, busy_s=4000, cost=0.05),
        # Yesterday (UTC): in neither.
        usage_row(4, released_at=now - 13 * 3600, wait_s=900, cost=1.0),
    ):
        assert await fleet.usage.record(row)
    # Still running: its start, not yet a usage row; and one whose row is written already.
    await fleet.usage.note_start("github", runner(5), "5", at=now - 120, queued_at=now - 140)
    await fleet.usage.note_start("github", runner(2), "2", at=now - 600, queued_at=now - 630)

    status = await fleet.read()

    [pool] = status.pools
    assert sorted(pool.waits) == [10, 20, 30]
    data = status.as_dict()["pools"][0]
    assert (data["wait_p50_s"], data["wait_p95_s"], data["waits"]) == (20.0, 30.0, 3)
    assert (data["cost_today"], data["currency"], data["released_today"]) == (0.1, "USD", 3)


async def test_a_pool_failing_its_preflight_fails_the_reading_with_its_check_names() -> None:
    """The network gate over Resource Manager's facts: a cluster zone not linked to the runner VNet
    fails the pool (dns-link), exit 1; a pool with warnings only passes."""
    reader = healthy_reader()
    reader.zones[ZONE.lower()] = zone(link(AKS_VNET, "link-vnet-aks"))
    failing = cluster_pool("aks-prod")
    warned = make_pool("aks-dev", ("aks-dev",), limits=LIMITS)
    fleet = Fleet(pools=(failing, warned))
    warning = CheckResult("egress", "warn", "snet", "default outbound access is being retired")
    fleet.gates = [
        AzurePreflightGate(lambda: reader, [failing], settings=DEFAULT_SETTINGS),
        FixedGate({"aks-dev": (warning,)}),
    ]

    status = await fleet.read()

    prod, dev = status.pools
    assert prod.preflight is not None and dev.preflight is not None
    assert (prod.preflight.status, prod.preflight.failing) == ("fail", ("dns-link",))
    assert (dev.preflight.status, dev.preflight.failing, dev.preflight.warnings) == ("warn", (), ("egress",))
    assert (status.ok, status.exit_code) == (False, 1)


async def test_without_a_gate_there_is_no_verdict_and_nothing_fails() -> None:
    """No preflight gate configured: the verdict is null and the reading passes."""
    status = await Fleet().read()
    assert status.pools[0].preflight is None and status.exit_code == 0
    assert status.as_dict()["pools"][0]["preflight"] is None


async def test_the_json_document_keeps_its_keys_in_order() -> None:
    """The `status --json` document: its keys, always present, in the documented order."""
    fleet = Fleet(gates=[FixedGate()])
    data = (await fleet.read()).as_dict()
    assert list(data) == ["schema", "at", "ok", "pools", "total", "scan", "errors"]
    assert data["schema"] == "runner-fleet/status/v1"
    assert list(data["pools"][0]) == [
        "pool",
        "forge",
        "waiting",
        "oldest_wait_s",
        "runners",
        "max_runners",
        "warm",
        "wait_p50_s",
        "wait_p95_s",
        "waits",
        "cost_today",
        "currency",
        "costs_today",
        "released_today",
        "unpriced_today",
        "preflight",
    ]
    assert list(data["pools"][0]["runners"]) == list(STATES)
    assert data["pools"][0]["preflight"] == {"status": "pass", "failing": [], "warnings": []}
    assert list(data["total"]) == [
        "waiting",
        "runners",
        "warm_target",
        "wait_p50_s",
        "wait_p95_s",
        "waits",
        "cost_today",
        "currency",
        "costs_today",
        "released_today",
        "unpriced_today",
        "pools_failing",
    ]
    assert data["scan"] == {"repositories_scanned": 0, "repositories_skipped": 0}


async def test_a_scheduled_pool_shows_the_target_in_force_and_its_mode() -> None:
    """A schedule's window in force sets the warm target shown, with mode `schedule`."""
    window = {"start": "0 0 * * *", "end": "59 23 * * *", "warm": 3, "timezone": "UTC"}
    pool = make_pool("aks-prod", limits=LIMITS | {"warm": {"schedule": [window], "otherwise": 0}})
    status = await Fleet(pools=(pool,)).read()
    assert (status.pools[0].warm_target, status.pools[0].warm_mode) == (3, "schedule")


async def test_the_table_shows_each_pool_its_verdict_and_the_totals() -> None:
    """The table: a row per pool with its runners, waits, cost and verdict, a total row, and the time
    of the reading."""
    fleet = Fleet()
    fleet.registry.set_status(await fleet.provision(1), "online", busy=True)
    fleet.feed.waiting = [fleet.waiting_job(2, waited_s=75)]
    dns = CheckResult("dns-link", "fail", "zone", "not linked")
    fleet.gates = [FixedGate({"aks-prod": (dns,)})]
    status = await fleet.read()
    out = io.StringIO()
    Console(file=out, width=140).print(status_cli.render(status, interval_s=15))
    text = out.getvalue()
    [row] = [line for line in text.splitlines() if line.split()[:2] == ["aks-prod", "FAIL"]]
    assert row.split()[:9] == ["aks-prod", "FAIL", "dns-link", "1", "(1m15s)", "0", "0", "0", "1"]
    assert any(line.lstrip().startswith("total") and "1 fail" in line for line in text.splitlines())
    assert "aks-prod: preflight fails: dns-link (runner-fleet doctor --pool aks-prod)" in text
    assert "again every 15s, Ctrl-C to stop" in text and "read 2027-01-15 08:00:00 UTC" in text


def fleet_runtime(fleet: Fleet, pools: tuple[Pool, ...] | None = None) -> runtime.Runtime:
    return runtime.Runtime(
        ServiceSettings(),
        pools or fleet.pools,
        fleet.queue,
        fleet.table,
        lambda: fleet.compute,
        {"github": lambda: fleet.registry},
        feed_factories={"github": lambda: fleet.feed},
        preflight_factory=lambda: FixedGate(
            {"aks-prod": (CheckResult("dns-link", "fail", "zone", "not linked"),)}
        ),
    )


def test_status_json_prints_the_document_and_exits_1_when_a_pool_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`status --json` reads through the runtime's adapters, prints the document, and exits 1 when a
    pool fails its preflight, as `doctor` does."""
    fleet = Fleet()
    monkeypatch.setattr(runtime, "_current", fleet_runtime(fleet))
    assert main(["status", "--json"]) == 1
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    [pool] = data["pools"]
    assert (pool["pool"], pool["waiting"], pool["preflight"]["failing"]) == ("aks-prod", 0, ["dns-link"])
    assert data["ok"] is False and fleet.feed.scans == 1


def test_watch_reads_every_interval_until_ctrl_c(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`status --watch --json` prints one document a line per reading, one scan each, waiting the rest
    of the interval between readings; Ctrl-C ends it with the last reading's exit code."""
    fleet = Fleet()
    monkeypatch.setattr(runtime, "_current", fleet_runtime(fleet))
    waits: list[float] = []

    async def pause(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            raise KeyboardInterrupt
        await asyncio.sleep(0)

    monkeypatch.setattr(status_cli, "_pause", pause)
    code = main(["status", "--watch", "--interval", "7", "--json"])

    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["schema"] for line in lines] == ["runner-fleet/status/v1"] * 2
    assert fleet.feed.scans == 2 and code == 1
    assert all(0 < wait <= 7 for wait in waits)


def test_a_failed_reading_while_watching_is_shown_and_the_watch_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A reading that fails as a whole (Azure unreachable) is said under the last table, and the next
    reading is tried an interval later."""
    fleet = Fleet()
    monkeypatch.setattr(runtime, "_current", fleet_runtime(fleet))
    readings = 0

    class Unreachable(FakeCompute):
        async def list_vms(self, pools: list[Pool]) -> list[Any]:
            nonlocal readings
            readings += 1
            if readings == 2:
                raise ConnectionError("reset")
            return await super().list_vms(pools)

    fleet.compute = Unreachable()

    async def pause(seconds: float) -> None:
        if readings == 3:
            raise KeyboardInterrupt

    out = io.StringIO()
    code = status_cli.watch(Console(file=out, width=140), interval_s=5, as_json=False, sleep=pause)

    text = out.getvalue()
    assert text.count("runner-fleet status") == 3 and readings == 3
    assert "reading failed at" in text and "ConnectionError; trying again in 5s" in text
    assert code == 1


@pytest.mark.parametrize("interval", ["4", "0", "-5", "x", "3601"])
def test_an_interval_under_five_seconds_is_a_usage_error(
    interval: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """--interval takes 5 to 3600 seconds (default 15); anything else exits 2 with a reason."""
    with pytest.raises(SystemExit) as exited:
        build_parser([]).parse_args(["status", "--watch", "--interval", interval])
    assert exited.value.code == 2
    assert "--interval" in capsys.readouterr().err
    args: Any = build_parser([]).parse_args(["status"])
    assert (args.watch, args.interval, args.json, args.run) == (
        False,
        15,
        False,
        "runner_fleet.cli.status:run",
    )
