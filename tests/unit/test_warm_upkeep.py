"""A pool's wanted count and the warm runners to ask for: pure arithmetic over what a round counted."""

from __future__ import annotations

import pytest

from runner_fleet.ports.compute import VmInfo
from runner_fleet.ports.forge import RunnerInfo
from runner_fleet.settings.pool import Pool
from runner_fleet.usecases.reconcile.rules import RunnerView
from runner_fleet.usecases.reconcile.warm_upkeep import RunnerCounts, Upkeep, count_runners, plan_upkeep
from tests.builders import make_pool

NOW = 1_800_000_000.0
POOL = make_pool("aks-prod")
GITLAB_POOL = make_pool("gl-aks", forge="gitlab", github=None, gitlab={"group_id": 100})


@pytest.mark.parametrize(
    ("figures", "expected"),
    [
        # (waiting, target, busy, coming, max_runners, job_provisions)
        # Nothing waits, nothing is there: the warm target is asked for.
        ((0, 2, 0, 0, 10, 0), Upkeep(wanted=2, warm_requests=2)),
        # Runners coming (booting, idle, leased or requested) count towards it.
        ((0, 2, 0, 1, 10, 0), Upkeep(wanted=2, warm_requests=1)),
        ((0, 2, 0, 2, 10, 0), Upkeep(wanted=2, warm_requests=0)),
        # More coming than wanted: nothing asked, nothing negative.
        ((0, 2, 0, 5, 10, 0), Upkeep(wanted=2, warm_requests=0)),
        # Jobs waiting add to the wanted count; busy runners do not count as coming.
        ((3, 2, 4, 0, 10, 3), Upkeep(wanted=5, warm_requests=2)),
        # The missed jobs' own provisions cover their part.
        ((3, 2, 0, 0, 10, 3), Upkeep(wanted=5, warm_requests=2)),
        # Two idle runners take two waiting jobs; two more are asked for to stay warm.
        ((2, 2, 0, 2, 10, 0), Upkeep(wanted=4, warm_requests=2)),
        # Capacity: busy + wanted never exceeds max_runners.
        ((0, 3, 8, 0, 10, 0), Upkeep(wanted=2, warm_requests=2)),
        ((5, 3, 9, 0, 10, 0), Upkeep(wanted=1, warm_requests=1)),
        ((5, 3, 10, 0, 10, 0), Upkeep(wanted=0, warm_requests=0)),
        # More busy than the pool's limit (it was lowered): nothing, not a negative count.
        ((1, 1, 12, 0, 10, 0), Upkeep(wanted=0, warm_requests=0)),
        # Job provisions beyond the wanted count leave no warm request.
        ((4, 0, 0, 0, 10, 4), Upkeep(wanted=4, warm_requests=0)),
        # No warm target: a waiting job nothing covers is left to the job recovery, never a pool runner.
        ((2, 0, 0, 1, 10, 0), Upkeep(wanted=2, warm_requests=0)),
        # With one, such a job does not raise the request above the target.
        ((3, 2, 0, 0, 10, 0), Upkeep(wanted=5, warm_requests=2)),
    ],
)
def test_the_warm_deficit_is_wanted_within_capacity_minus_what_is_coming(
    figures: tuple[int, int, int, int, int, int], expected: Upkeep
) -> None:
    """Warm requests: min(waiting + target, max_runners - busy) - coming - job provisions, in 0..target."""
    names = ("waiting", "target", "busy", "coming", "max_runners", "job_provisions")
    assert plan_upkeep(**dict(zip(names, figures, strict=True))) == expected


def _view(
    i: int,
    *,
    status: str | None = "online",
    busy: bool = False,
    vm: str | None = "Succeeded",
    power: str = "running",
    lease: bool = False,
    started: bool = False,
    pool: Pool = POOL,
) -> RunnerView:
    name = f"rf-{pool.name}-{i:010x}"
    info = VmInfo(name, "rg", "Standard_D2ads_v5", {}, vm, power) if vm is not None else None
    registration = RunnerInfo(i, name, status, busy) if status is not None else None
    return RunnerView(name, pool, info, registration, NOW - 300, lease, None, NOW - 5 if started else None)


def test_runners_are_counted_busy_coming_or_neither() -> None:
    """Idle, booting and leased runners are coming; busy ones (flag or reported start) busy; rest
    neither. Only the runner online and waiting counts as idle VM time (a boot is a job's cold start)."""
    views = [
        _view(1),  # online, idle: coming
        _view(2, status="offline"),  # booting: coming
        _view(3, busy=True),  # busy
        _view(4, started=True),  # the flag lags, a webhook said it started: busy
        _view(5, vm=None, status="offline", lease=True),  # registered, VM being made: coming
        _view(6, vm="Deleting"),  # going away: neither
        _view(7, power="stopped"),  # its runner exited: neither
        _view(8, vm=None),  # a registration without a VM: neither
        _view(9, status=None),  # a GitHub VM whose runner is gone (job done): neither
    ]
    counts = count_runners(views, judged=(), leases=(), requested=())
    assert counts == {"aks-prod": RunnerCounts(busy=2, coming=3, idle_vms=1)}


def test_runners_judged_wrong_are_not_coming_but_still_busy() -> None:
    """A runner this round judged wrong (a suspect, or reaped now) is not coming; a busy one stays busy."""
    views = [_view(1), _view(2), _view(3, busy=True)]
    names = [v.name for v in views]
    counts = count_runners(views, judged={names[0], names[2]}, leases=(), requested=())
    assert counts["aks-prod"] == RunnerCounts(busy=1, coming=1, idle_vms=2)


def test_leases_and_requests_not_yet_seen_are_coming_once() -> None:
    """A lease or request whose runner is not observed counts once; one observed is not counted again."""
    seen = _view(1, status="offline")
    lease_only = "rf-aks-prod-00000000aa"
    requested = [("aks-prod", "rf-aks-prod-00000000bb"), ("aks-prod", lease_only), ("aks-prod", seen.name)]
    counts = count_runners([seen], judged=(), leases={lease_only}, requested=requested)
    assert counts["aks-prod"].coming == 3


def test_a_gitlab_vm_whose_registration_went_at_its_job_start_is_busy() -> None:
    """GitLab deletes a runner's registration as its job starts: its VM, still running, counts as busy."""
    counts = count_runners([_view(1, status=None, pool=GITLAB_POOL)], judged=(), leases=(), requested=())
    assert counts["gl-aks"] == RunnerCounts(busy=1, coming=0, idle_vms=0)
