"""Per pool, what the runners released in a period did and cost: `runner-fleet report` (and `status`).

Built from the usage rows (`runner_fleet/state/usage.py`), one per runner VM gone. `--json` prints
`Report.as_dict()`, whose keys are stable:

    since, until          the period (ISO 8601, UTC): VMs released at or after `since`, before `until`
    pools                 one object per pool (configured pools first, in their order, then any other
                          pool the rows name), each with:
      pool                the pool's name
      jobs                jobs run (usage rows that name a job)
      runners             runner VMs released
      wait_p50_s, wait_p95_s
                          job wait, queued -> running, in seconds (nearest rank; null when no wait is
                          known: a job whose start or queued time was not heard of counts in `jobs` only)
      waits               how many waits the percentiles are taken over
      vm_hours            VM time, create request -> release
      busy_hours          of which a job was running
      idle_hours          of which no job was running (booting, waiting, tearing down)
      unsplit_hours       VM time of runners whose job start is not known (neither busy nor idle)
      cost                the VMs' cost (null when none could be priced, or the rows mix currencies)
      currency            the cost's currency (ISO 4217; null with `cost`)
      costs               currency -> cost, every currency the rows hold
      cost_per_job        cost / jobs (null without jobs or without cost)
      unpriced_runners    VMs without a price (size or region in no price table): left out of `cost`
    total                 the same keys over every pool, `pool` being "total"
    prices                {"admin": true when an admin table is set, "shipped_as_of": date of the
                          shipped table}

Hours and costs are rounded to 4 decimals, waits to 0.1 s.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from runner_fleet.percentile import percentile
from runner_fleet.state.usage import Usage

TOTAL = "total"


@dataclass
class PoolFigures:
    pool: str
    jobs: int = 0
    runners: int = 0
    waits: list[float] = field(default_factory=list)
    vm_s: float = 0.0
    busy_s: float = 0.0
    idle_s: float = 0.0
    unsplit_s: float = 0.0
    costs: dict[str, float] = field(default_factory=dict)
    unpriced: int = 0

    def add(self, usage: Usage) -> None:
        self.runners += 1
        if usage.job:
            self.jobs += 1
        if usage.wait_s is not None:
            self.waits.append(usage.wait_s)
        vm_s, busy_s = usage.vm_seconds, usage.busy_seconds
        self.vm_s += vm_s
        if busy_s is not None:
            self.busy_s += busy_s
            self.idle_s += vm_s - busy_s
        elif not usage.job:
            self.idle_s += vm_s  # it ran no job: all of its time was idle
        else:
            self.unsplit_s += vm_s
        if usage.cost is None or usage.currency is None:
            self.unpriced += 1
        else:
            self.costs[usage.currency] = self.costs.get(usage.currency, 0.0) + usage.cost

    def merge(self, other: PoolFigures) -> None:
        self.jobs += other.jobs
        self.runners += other.runners
        self.waits += other.waits
        self.vm_s += other.vm_s
        self.busy_s += other.busy_s
        self.idle_s += other.idle_s
        self.unsplit_s += other.unsplit_s
        for currency, amount in other.costs.items():
            self.costs[currency] = self.costs.get(currency, 0.0) + amount
        self.unpriced += other.unpriced

    @property
    def cost(self) -> float | None:
        if not self.costs:
            return 0.0 if self.runners == 0 else None
        return next(iter(self.costs.values())) if len(self.costs) == 1 else None

    @property
    def currency(self) -> str | None:
        return next(iter(self.costs)) if len(self.costs) == 1 else None

    @property
    def cost_per_job(self) -> float | None:
        cost = self.cost
        return cost / self.jobs if cost is not None and self.jobs else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "pool": self.pool,
            "jobs": self.jobs,
            "runners": self.runners,
            **wait_figures(self.waits),
            "vm_hours": _hours(self.vm_s),
            "busy_hours": _hours(self.busy_s),
            "idle_hours": _hours(self.idle_s),
            "unsplit_hours": _hours(self.unsplit_s),
            "cost": _round(self.cost, 4),
            "currency": self.currency,
            "costs": {currency: round(amount, 4) for currency, amount in sorted(self.costs.items())},
            "cost_per_job": _round(self.cost_per_job, 4),
            "unpriced_runners": self.unpriced,
        }


def wait_figures(waits: Sequence[float]) -> dict[str, Any]:
    """p50 and p95 of `waits` (nearest rank, to a tenth of a second) and how many there were."""
    return {
        "wait_p50_s": _round(percentile(waits, 0.5), 1),
        "wait_p95_s": _round(percentile(waits, 0.95), 1),
        "waits": len(waits),
    }


@dataclass(frozen=True)
class Report:
    since: float
    until: float
    pools: tuple[PoolFigures, ...]
    total: PoolFigures
    admin_prices: bool = False
    shipped_as_of: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": _iso(self.since),
            "until": _iso(self.until),
            "pools": [pool.as_dict() for pool in self.pools],
            "total": self.total.as_dict(),
            "prices": {"admin": self.admin_prices, "shipped_as_of": self.shipped_as_of},
        }


def build_report(
    rows: Iterable[Usage],
    *,
    since: float,
    until: float,
    pools: Sequence[str] = (),
    admin_prices: bool = False,
    shipped_as_of: str | None = None,
) -> Report:
    """The figures per pool of the VMs released in [since, until); `pools` are listed even without rows."""
    figures = {name: PoolFigures(name) for name in pools}
    for usage in rows:
        if since <= usage.released_at < until:
            figures.setdefault(usage.pool, PoolFigures(usage.pool)).add(usage)
    total = PoolFigures(TOTAL)
    for pool in figures.values():
        total.merge(pool)
    return Report(since, until, tuple(figures.values()), total, admin_prices, shipped_as_of)


def _hours(seconds: float) -> float:
    return round(seconds / 3600.0, 4)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
