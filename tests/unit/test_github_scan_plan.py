"""Which repositories the recovery scan reads each round, and what it leaves to registrations."""

from __future__ import annotations

from runner_fleet.adapters.github.scan_plan import (
    IN_PROGRESS_EVERY,
    MIN_RESERVE,
    RoundPace,
    ScanPlan,
    reserve_for,
)
from tests.builders import make_pool


def _repos(prefix: str, count: int) -> list[str]:
    return [f"org/{prefix}{i:03d}" for i in range(count)]


def _run(plan: ScanPlan, likely: list[str], rest: list[str], rounds: int) -> list[list[str]]:
    out = []
    for _ in range(rounds):
        picked, _ = plan.next_round(likely, rest)
        for repo in picked:
            plan.read(repo)
        out.append(picked)
    return out


def test_a_small_installation_is_read_whole_every_round() -> None:
    """Up to the per-round cap, every repository, likely or not, is read every round."""
    plan = ScanPlan(per_round=40)
    likely, rest = _repos("a", 5), _repos("b", 20)
    for picked in _run(plan, likely, rest, 3):
        assert sorted(picked) == sorted(likely + rest)
    assert plan.next_round(likely, rest)[1] == 0


def test_likely_repositories_come_first_and_rotate() -> None:
    """More likely repositories than a round holds are read in turns, each within ceil(n/cap) rounds."""
    plan = ScanPlan(per_round=40)
    likely = _repos("a", 200)
    rounds = _run(plan, likely, [], 5)
    assert all(len(picked) == 40 for picked in rounds)
    assert sorted(repo for picked in rounds for repo in picked) == sorted(likely)
    assert plan.next_round(likely, [])[1] == 160  # left for later rounds


def test_the_rest_gets_its_share_even_when_likely_ones_fill_the_rounds() -> None:
    """Repositories no pool names and no webhook mentioned are each read at least every rest_period rounds."""
    plan = ScanPlan(per_round=40, rest_period=30)
    likely, rest = _repos("a", 200), _repos("b", 90)
    rounds = _run(plan, likely, rest, 30)
    assert all(sum(repo in rest for repo in picked) == 3 for picked in rounds)
    assert {repo for picked in rounds for repo in picked} >= set(rest)


def test_a_repository_in_both_lists_counts_as_likely() -> None:
    """A repository named by a pool or a webhook is not read twice because the installation lists it too."""
    plan = ScanPlan(per_round=40)
    picked, left = plan.next_round(["org/x"], ["org/x", "org/y"])
    assert sorted(picked) == ["org/x", "org/y"] and left == 0


def test_in_progress_runs_are_read_on_the_first_and_every_tenth_read() -> None:
    """The changeful in-progress listing is read on a repository's first read, then every tenth."""
    plan = ScanPlan()
    wanted = []
    for _ in range(2 * IN_PROGRESS_EVERY + 1):
        plan.next_round(["org/a"], [])
        wanted.append(plan.wants_in_progress("org/a"))
        plan.read("org/a")
    assert [i for i, w in enumerate(wanted) if w] == [0, IN_PROGRESS_EVERY, 2 * IN_PROGRESS_EVERY]


def test_the_reserve_covers_every_pool_filling_its_slots_once() -> None:
    """Six calls per runner slot of every pool of the credential (the job and run read before it, its
    registration, a stale lookup, its removal, the release's read), and never less than the minimum."""
    pools = [
        make_pool("pa", limits={"max_runners": 80}),
        make_pool("pb", ("pb",), limits={"max_runners": 20}),
    ]
    assert reserve_for(pools) == 6 * 100
    assert reserve_for([make_pool("pc", limits={"max_runners": 2})]) == MIN_RESERVE


def test_the_round_interval_is_measured() -> None:
    """The time between rounds is learnt from the rounds themselves (the reconciler's timer sets it)."""
    now = [0.0]
    pace = RoundPace(default_s=60.0, clock=lambda: now[0])
    assert pace.tick() == 60.0
    now[0] = 6.0
    assert pace.tick() == 6.0
    now[0] = 16.0
    assert pace.tick() == 0.7 * 6.0 + 0.3 * 10.0
