"""The adaptive warm target: enough idle runners that most jobs find one waiting.

A job that takes a warm runner leaves the pool one short until a replacement, a cold start of
`cold_start_s` (T), is online. A job therefore finds a runner waiting when fewer than k jobs came in
the T before it, k being the warm target. With jobs arriving at rate λ (arrivals / window_s), the
number that came in the last T is Poisson with mean m = λ·T (T = 90 s until measured), so the share of
jobs served warm is P(Poisson(m) <= k - 1): the target is the smallest k for which that reaches
`target_hit_ratio`, and 0 while no job came in the window. (k is one more than the smallest k with
P(Poisson(m) <= k) >= ratio, the share of cold-start periods with at most k arrivals: that count
leaves the jobs of quiet hours, which come alone, without a runner every time.)

Jobs queued together (a matrix, a merge train) are not Poisson: a burst of b takes b runners at
once. So the target is at least `burst_p90`, the size of a burst that 9 in 10 of the window's
busy minutes do not exceed. Either way it is clamped to [min, max], and once the pool's idle VM time
today reaches its budget, only `min` runners are kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from runner_fleet.settings.pool import WarmAuto

# A fresh VM with a registered runner takes about this long when nothing has been measured yet.
DEFAULT_COLD_START_S = 90.0


@dataclass(frozen=True)
class Demand:
    # Jobs queued for the pool within the last `window_s`.
    arrivals: int
    window_s: float
    # Recent median of VM create requested -> runner online; None until measured.
    cold_start_s: float | None
    # Idle runner time the pool spent today (UTC day), in VM seconds.
    idle_vm_s_today: float
    # The 90th percentile of jobs queued in the same minute, over the window's minutes with any.
    burst_p90: int


@dataclass(frozen=True)
class AutoTarget:
    target: int
    reason: str


def auto_target(auto: WarmAuto, demand: Demand | None) -> AutoTarget:
    """The warm target for `demand` under `auto` (its `min` when nothing is known)."""
    if demand is None:
        return AutoTarget(auto.min, f"no demand measured yet: min {auto.min}")
    budget_s = auto.idle_budget_vm_hours_per_day * 3600
    if demand.idle_vm_s_today >= budget_s:
        return AutoTarget(
            auto.min,
            f"idle budget spent ({demand.idle_vm_s_today / 3600:.1f} of "
            f"{auto.idle_budget_vm_hours_per_day:g} VM-h today): min {auto.min}",
        )
    cold_start_s = demand.cold_start_s if demand.cold_start_s is not None else DEFAULT_COLD_START_S
    mean = demand.arrivals / demand.window_s * cold_start_s if demand.window_s > 0 else 0.0
    poisson = warm_for_hit_ratio(mean, auto.target_hit_ratio) if demand.arrivals > 0 else 0
    wanted, why = (
        (demand.burst_p90, f"bursts of {demand.burst_p90} jobs")
        if demand.burst_p90 > poisson
        else (
            poisson,
            f"{demand.arrivals} jobs in {demand.window_s:g}s, {mean:.2f} per {cold_start_s:g}s cold start",
        )
    )
    target = min(max(wanted, auto.min), auto.max)
    bound = " (min)" if target > wanted else " (max)" if target < wanted else ""
    return AutoTarget(target, f"{why}: {target}{bound}")


def warm_for_hit_ratio(mean: float, ratio: float) -> int:
    """The smallest k with P(Poisson(mean) <= k - 1) >= ratio: warm runners for that share of jobs."""
    term = math.exp(-mean)
    cumulative = term
    k = 0
    # ratio < 1, so the sum gets there; the cap guards against a mean so large the terms underflow.
    while cumulative < ratio and k < 10_000:
        k += 1
        term *= mean / k
        cumulative += term
    return k + 1
