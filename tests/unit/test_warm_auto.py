"""The adaptive warm target: sized so that the wanted share of jobs finds a runner waiting."""

from __future__ import annotations

import heapq
import random

import pytest

from runner_fleet.settings.pool import WarmAuto
from runner_fleet.warm.auto import Demand, auto_target, warm_for_hit_ratio

AUTO = WarmAuto(min=0, max=20, idle_budget_vm_hours_per_day=8)


def _demand(arrivals: int = 0, **overrides: float | int | None) -> Demand:
    values: dict[str, float | int | None] = {
        "arrivals": arrivals,
        "window_s": 900.0,
        "cold_start_s": 90.0,
        "idle_vm_s_today": 0.0,
        "burst_p90": 1 if arrivals else 0,
    }
    values.update(overrides)
    return Demand(**values)  # type: ignore[arg-type]


def _hit_ratio(arrival_times: list[float], warm: int, cold_start_s: float) -> float:
    """Replay arrivals against `warm` runners, each taken one replaced `cold_start_s` later."""
    idle, coming, hits = warm, list[float](), 0
    for at in arrival_times:
        while coming and coming[0] <= at:
            heapq.heappop(coming)
            idle += 1
        if idle:
            idle -= 1
            hits += 1
            heapq.heappush(coming, at + cold_start_s)
    return hits / len(arrival_times)


def _poisson_arrivals(rate: float, count: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    at, times = 0.0, []
    for _ in range(count):
        at += rng.expovariate(rate)
        times.append(at)
    return times


def test_no_jobs_no_warm_runners() -> None:
    """With no arrivals in the window the target is min."""
    assert auto_target(AUTO, _demand(0)).target == 0
    assert auto_target(WarmAuto(min=2, max=5, idle_budget_vm_hours_per_day=1), _demand(0)).target == 2


def test_without_a_snapshot_the_target_is_min() -> None:
    """No demand known: keep min and say so."""
    decided = auto_target(WarmAuto(min=1, max=5, idle_budget_vm_hours_per_day=1), None)
    assert (decided.target, decided.reason) == (1, "no demand measured yet: min 1")


@pytest.mark.parametrize(
    ("mean", "ratio", "warm"),
    [(0.1, 0.9, 1), (0.8, 0.9, 3), (3.0, 0.9, 6), (3.0, 0.5, 4), (10.0, 0.99, 19)],
)
def test_warm_for_hit_ratio_is_the_poisson_quantile_plus_the_job_itself(
    mean: float, ratio: float, warm: int
) -> None:
    """k warm runners serve a job when fewer than k others came in the cold start before it."""
    assert warm_for_hit_ratio(mean, ratio) == warm


def test_the_target_reaches_the_hit_ratio_on_poisson_arrivals_and_one_less_does_not() -> None:
    """Poisson arrivals, one per 30 s, 90 s cold starts: the target serves 90% of jobs warm, one less not."""
    arrivals = _poisson_arrivals(1 / 30, 20_000, seed=7)
    decided = auto_target(AUTO, _demand(30, window_s=900, cold_start_s=90))
    assert decided.target == 6
    assert _hit_ratio(arrivals, decided.target, 90) >= 0.9
    assert _hit_ratio(arrivals, decided.target - 1, 90) < 0.9


def test_bursts_of_jobs_queued_together_are_served_whole() -> None:
    """Matrix builds of 8 jobs every 15 minutes: the burst term keeps 8 warm where Poisson alone keeps 3."""
    rng = random.Random(3)
    arrivals = [start for start in (i * 900 + rng.uniform(0, 60) for i in range(500)) for _ in range(8)]
    decided = auto_target(AUTO, _demand(8, burst_p90=8))
    poisson_only = auto_target(AUTO, _demand(8, burst_p90=1))
    assert (decided.target, poisson_only.target) == (8, 3)
    assert decided.reason.startswith("bursts of 8 jobs")
    assert _hit_ratio(arrivals, decided.target, 90) >= 0.9 > _hit_ratio(arrivals, poisson_only.target, 90)


def test_an_unmeasured_cold_start_counts_as_90_seconds() -> None:
    """cold_start_s None reads as 90 s, so a measured 90 s gives the same target."""
    assert auto_target(AUTO, _demand(30, cold_start_s=None)) == auto_target(
        AUTO, _demand(30, cold_start_s=90)
    )
    assert auto_target(AUTO, _demand(30, cold_start_s=300)).target > auto_target(AUTO, _demand(30)).target


def test_the_target_is_clamped_to_min_and_max() -> None:
    """A computed target outside [min, max] is moved to the bound, and the reason says which."""
    narrow = WarmAuto(min=2, max=3, idle_budget_vm_hours_per_day=8)
    high = auto_target(narrow, _demand(300))
    low = auto_target(narrow, _demand(1, cold_start_s=1))
    assert (high.target, low.target) == (3, 2)
    assert high.reason.endswith(": 3 (max)")
    assert low.reason.endswith(": 2 (min)")


def test_a_spent_idle_budget_keeps_only_min() -> None:
    """Once today's idle VM time reaches the budget, only min runners are kept, whatever the demand."""
    auto = WarmAuto(min=1, max=10, idle_budget_vm_hours_per_day=2)
    within = auto_target(auto, _demand(60, idle_vm_s_today=2 * 3600 - 1))
    spent = auto_target(auto, _demand(60, idle_vm_s_today=2 * 3600))
    assert within.target > 1
    assert spent.target == 1
    assert spent.reason == "idle budget spent (2.0 of 2 VM-h today): min 1"


def test_the_reason_names_the_poisson_term_when_it_decides() -> None:
    """The reason gives the arrivals, the window and the expected arrivals per cold start."""
    decided = auto_target(AUTO, _demand(30))
    assert decided.reason == "30 jobs in 900s, 3.00 per 90s cold start: 6"
