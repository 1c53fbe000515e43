"""The fleet at a glance: one row per pool, read from Azure, the forges and the state table, never from
the service's memory. `runner-fleet status` shows it, and `runner-fleet demo` ends with it.

Per pool:

- **waiting**: jobs the forge says are waiting for a runner that the pool would serve (GitHub: queued
  jobs, GitLab: pending ones), as the reconciler's recovery scan finds them: its feed, one scan per
  reading, within the feed's request budget (a large installation is read in turns, and unchanged
  listings are conditional requests that cost nothing). Jobs inside the reconciler's webhook grace
  count too. None when the forge has no feed or its scan failed.
- **runners by state**: creating, booting, idle, busy, retiring: Azure's VMs (by tag) joined with
  the forge's registrations, the provisions in flight and the job starts webhooks reported, classified
  by the reconciler itself: one dry-run round (`Reconciler(dry_run=True)`, which changes nothing and
  sends nothing), whose `runners` are `observed.runner_states` (what the `runner_fleet.runners` gauge
  counts). Probe VMs are not runners and are not counted.
- **warm target** in force, as that round decided it (`warm.policy.warm_now`; adaptive pools from
  their demand log), with its mode (static, schedule, auto).
- **wait p50 / p95** over the last hour: queued -> running of the jobs that started running in the
  last hour, finished (usage rows) or still running (job starts): `runner_fleet/state/usage.py`.
  Nearest rank, as `runner-fleet report` takes them.
- **cost today**: the usage rows of the runner VMs released since 00:00 UTC (a VM still running is
  in it once it is released), in the rows' currency.
- **preflight**: the verdict of the gates the provisioner asks before it pays for a VM (the network
  preflight, then the forge's check of the pool's scope), pass / warn / fail with the names of the
  checks that warn or fail. The gates cache a pool's report for a few minutes, as they do for the
  provisioner; a pool that fails gets no VM, so `status` exits 1 (as `doctor` does).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from runner_fleet import naming
from runner_fleet.cost.report import PoolFigures, wait_figures
from runner_fleet.forges import Forge
from runner_fleet.ports.feeds import JobFeed, ReportsCoverage, ScanCoverage, WaitingJob
from runner_fleet.ports.preflight import CheckResult, PreflightGate, Status
from runner_fleet.settings.pool import Pool
from runner_fleet.state.usage import JobStart, Usage, UsageLog
from runner_fleet.telemetry.metrics import RUNNER_STATES
from runner_fleet.usecases.reconcile.reconciler import Reconciler, ReconcileReport
from runner_fleet.warm.policy import warm_now

SCHEMA = "runner-fleet/status/v1"
WAIT_WINDOW_S = 3600.0
_DAY_S = 86400.0


@dataclass(frozen=True)
class Verdict:
    """A pool's preflight: the worst status of its checks, and the names of those that fail or warn."""

    status: Status
    failing: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    @classmethod
    def of(cls, checks: Iterable[CheckResult]) -> Verdict:
        found = list(checks)
        failing = _names(c for c in found if c.status == "fail")
        warnings = _names(c for c in found if c.status == "warn")
        return cls("fail" if failing else "warn" if warnings else "pass", failing, warnings)

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "failing": list(self.failing), "warnings": list(self.warnings)}


@dataclass(frozen=True)
class PoolStatus:
    pool: str
    forge: str
    max_runners: int
    waiting: int | None  # None: not known (no feed for its forge, or the scan failed)
    oldest_wait_s: float | None
    runners: Mapping[str, int]  # every state of RUNNER_STATES, zeros included
    warm_target: int
    warm_mode: str
    waits: tuple[float, ...]  # seconds queued -> running, jobs started in the last hour
    today: PoolFigures  # the runner VMs released today (UTC): their cost
    preflight: Verdict | None  # None when no gate is configured

    @property
    def fails(self) -> bool:
        return self.preflight is not None and self.preflight.status == "fail"

    def as_dict(self) -> dict[str, Any]:
        return {
            "pool": self.pool,
            "forge": self.forge,
            "waiting": self.waiting,
            "oldest_wait_s": _round(self.oldest_wait_s, 1),
            "runners": dict(self.runners),
            "max_runners": self.max_runners,
            "warm": {"target": self.warm_target, "mode": self.warm_mode},
            **wait_figures(self.waits),
            **_cost_figures(self.today),
            "preflight": self.preflight.as_dict() if self.preflight is not None else None,
        }


@dataclass(frozen=True)
class FleetStatus:
    at: float
    pools: tuple[PoolStatus, ...]
    # Repositories (projects) the scan read, and those due but left for a later reading (budget).
    scanned: int = 0
    skipped: int = 0
    errors: tuple[str, ...] = ()  # what could not be read (exception names only: never secrets)

    @property
    def ok(self) -> bool:
        """No pool fails its preflight."""
        return not any(pool.fails for pool in self.pools)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def total_runners(self) -> dict[str, int]:
        return {state: sum(p.runners.get(state, 0) for p in self.pools) for state in RUNNER_STATES}

    def total_waiting(self) -> int | None:
        known = [p.waiting for p in self.pools if p.waiting is not None]
        return sum(known) if known or not self.pools else None

    def total_waits(self) -> tuple[float, ...]:
        return tuple(wait for pool in self.pools for wait in pool.waits)

    def total_today(self) -> PoolFigures:
        total = PoolFigures("total")
        for pool in self.pools:
            total.merge(pool.today)
        return total

    def as_dict(self) -> dict[str, Any]:
        """The `status --json` document (its keys: `runner_fleet/cli/status.py`)."""
        return {
            "schema": SCHEMA,
            "at": _iso(self.at),
            "ok": self.ok,
            "pools": [pool.as_dict() for pool in self.pools],
            "total": {
                "waiting": self.total_waiting(),
                "runners": self.total_runners(),
                "warm_target": sum(p.warm_target for p in self.pools),
                **wait_figures(self.total_waits()),
                **_cost_figures(self.total_today()),
                "pools_failing": sum(1 for p in self.pools if p.fails),
            },
            "scan": {"repositories_scanned": self.scanned, "repositories_skipped": self.skipped},
            "errors": list(self.errors),
        }


@dataclass
class _RecordedFeed:
    """The reconciler's feed, keeping what its one scan of this reading found (every waiting job,
    also those inside the webhook grace the reconciler leaves to the webhooks)."""

    feed: JobFeed
    jobs: list[WaitingJob] | None = None
    coverage: ScanCoverage | None = None

    async def waiting_jobs(self, pools: list[Pool]) -> list[WaitingJob]:
        self.jobs = await self.feed.waiting_jobs(pools)
        self.coverage = self.feed.last_coverage() if isinstance(self.feed, ReportsCoverage) else None
        return self.jobs

    def last_coverage(self) -> ScanCoverage | None:
        return self.coverage

    async def redeliver_failed(self, since_s: float) -> int:
        return 0  # a reading redelivers nothing (a dry run does not ask)

    async def close(self) -> None:
        return None  # the feed is its owner's to close


async def read_fleet_status(
    pools: Sequence[Pool],
    reconciler: Reconciler,
    usage: UsageLog,
    gates: Sequence[PreflightGate] = (),
) -> FleetStatus:
    """One reading. `reconciler`: the service's, over the real adapters (it runs one dry-run round
    with its feeds); `usage`: the state table's usage rows; `gates`: the provisioner's preflight
    gates, asked in order for every pool (none: no verdict)."""
    now = reconciler.now()
    recorded = {forge: _RecordedFeed(feed) for forge, feed in reconciler.feeds.items()}
    # The round and the preflights at once: pools' checks run concurrently in the service too.
    report, verdicts = await asyncio.gather(
        replace(reconciler, feeds=recorded)(dry_run=True),
        asyncio.gather(*(_verdict(pool, gates) for pool in pools)) if gates else _nothing(),
    )
    waiting = _waiting_by_pool(pools, recorded)
    waits, today = await _usage(usage, now)
    rows = []
    for index, pool in enumerate(pools):
        states = report.runners.get(pool.name, {})
        jobs = waiting.get(pool.name)
        rows.append(
            PoolStatus(
                pool=pool.name,
                forge=pool.forge,
                max_runners=pool.limits.max_runners,
                waiting=None if jobs is None else len(jobs),
                oldest_wait_s=max(0.0, now - min(j.waiting_since for j in jobs)) if jobs else None,
                runners={state: states.get(state, 0) for state in RUNNER_STATES},
                warm_target=_warm_target(report, pool, now),
                warm_mode=warm_now(pool, now).mode,
                waits=tuple(waits.get(pool.name, ())),
                today=today.get(pool.name) or PoolFigures(pool.name),
                preflight=verdicts[index] if verdicts else None,
            )
        )
    return FleetStatus(
        at=now,
        pools=tuple(rows),
        scanned=report.repositories_scanned,
        skipped=report.repositories_skipped,
        errors=tuple(report.errors),
    )


def _waiting_by_pool(
    pools: Sequence[Pool], recorded: Mapping[Forge, _RecordedFeed]
) -> dict[str, list[WaitingJob]]:
    """Pool name -> its waiting jobs (the reconciler's grouping); pools whose forge's scan did not
    answer are left out (not known)."""
    found: dict[str, list[WaitingJob]] = {}
    for pool in pools:
        feed = recorded.get(pool.forge)
        if feed is not None and feed.jobs is not None:
            found[pool.name] = []
    for feed in recorded.values():
        for job in feed.jobs or ():
            name = job.request.pool or job.pool_hint
            if name in found:
                found[name].append(job)
    return found


def _warm_target(report: ReconcileReport, pool: Pool, now: float) -> int:
    figures = report.pools.get(pool.name)
    return figures["target"] if figures is not None else warm_now(pool, now).target


async def _usage(usage: UsageLog, now: float) -> tuple[dict[str, list[float]], dict[str, PoolFigures]]:
    """Pool name -> the waits of the jobs that started in the last hour (finished or running), and
    pool name -> the figures of its runner VMs released today (UTC). One read of the usage rows."""
    start, midnight = now - WAIT_WINDOW_S, now - now % _DAY_S
    waits: dict[str, list[float]] = {}
    today: dict[str, PoolFigures] = {}
    finished: set[tuple[str, str]] = set()
    rows: list[Usage] = await usage.since(min(start, midnight))
    for row in rows:
        if row.released_at >= midnight:
            today.setdefault(row.pool, PoolFigures(row.pool)).add(row)
        # A job that started in the window was released in it too (if it was released at all).
        if row.started_at is not None and row.started_at >= start and row.wait_s is not None:
            waits.setdefault(row.pool, []).append(row.wait_s)
            finished.add((row.runner, row.job))
    running: list[JobStart] = await usage.starts_since(start)
    for began in running:
        pool = naming.pool_of(began.runner)
        # A start is deleted when its usage row is written; between the two, count the row only.
        if pool is not None and began.wait_s is not None and (began.runner, began.job) not in finished:
            waits.setdefault(pool, []).append(began.wait_s)
    return waits, today


async def _nothing() -> list[Verdict]:
    return []


async def _verdict(pool: Pool, gates: Sequence[PreflightGate]) -> Verdict:
    checks: list[CheckResult] = []
    for gate in gates:
        checks += (await gate.check(pool)).checks
    return Verdict.of(checks)


def _names(checks: Iterable[CheckResult]) -> tuple[str, ...]:
    """Check names in order, each once (dns-link has a row per zone)."""
    return tuple(dict.fromkeys(check.name for check in checks))


def _cost_figures(figures: PoolFigures) -> dict[str, Any]:
    return {
        "cost_today": _round(figures.cost, 4),
        "currency": figures.currency,
        "costs_today": {currency: round(amount, 4) for currency, amount in sorted(figures.costs.items())},
        "released_today": figures.runners,
        "unpriced_today": figures.unpriced,
    }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
