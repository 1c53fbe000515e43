"""`AzurePreflightGate`: the provisioning guard. One preflight per pool every few minutes, not per job.

Private DNS allows few reads per subscription, and a burst of jobs for one pool must not become a
burst of reads: a pool's report is cached (`ttl_s`; a failing pool is looked at again sooner,
because someone is probably fixing it) and concurrent checks of one pool share one run. A failing
pool is logged once per distinct set of failures, with the checks and their fixes, not per job.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from runner_fleet.logs import get_logger
from runner_fleet.ports.preflight import CheckResult, PreflightReport
from runner_fleet.preflight.reader import TopologyReader
from runner_fleet.preflight.report import problem_key
from runner_fleet.preflight.run import run_preflight
from runner_fleet.settings.pool import Pool

log = get_logger("preflight")

DEFAULT_TTL_S = 300.0
FAILING_TTL_S = 60.0
ERROR_TTL_S = 30.0


@dataclass
class _Entry:
    report: PreflightReport
    expires_at: float


class AzurePreflightGate:
    def __init__(
        self,
        reader: Callable[[], TopologyReader],
        pools: Sequence[Pool] = (),
        *,
        ttl_s: float = DEFAULT_TTL_S,
        failing_ttl_s: float = FAILING_TTL_S,
        error_ttl_s: float = ERROR_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._build_reader = reader
        self._reader: TopologyReader | None = None
        self._pools = tuple(pools)
        self._ttl_s, self._failing_ttl_s, self._error_ttl_s = ttl_s, failing_ttl_s, error_ttl_s
        self._clock = clock
        self._cache: dict[str, _Entry] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._logged: dict[str, frozenset[tuple[str, str, str]]] = {}

    async def check(self, pool: Pool) -> PreflightReport:
        cached = self._fresh(pool.name)
        if cached is not None:
            return cached
        lock = self._locks.setdefault(pool.name, asyncio.Lock())
        async with lock:
            cached = self._fresh(pool.name)  # another task may have just refreshed it
            if cached is not None:
                return cached
            report, ttl = await self._run(pool)
            self._cache[pool.name] = _Entry(report, self._clock() + ttl)
            self._announce(report)
            return report

    def invalidate(self, pool: str | None = None) -> None:
        """Forget cached reports (one pool's, or all), so the next check reads Azure again."""
        if pool is None:
            self._cache.clear()
        else:
            self._cache.pop(pool, None)

    async def close(self) -> None:
        if self._reader is not None:
            await self._reader.close()
            self._reader = None

    def _fresh(self, pool: str) -> PreflightReport | None:
        entry = self._cache.get(pool)
        if entry is None or self._clock() >= entry.expires_at:
            return None
        return entry.report

    async def _run(self, pool: Pool) -> tuple[PreflightReport, float]:
        if self._reader is None:
            self._reader = self._build_reader()
        try:
            preflight = await run_preflight(pool, self._reader, pools=self._pools)
        except Exception as exc:
            # Fail closed (no VM that may not reach the cluster), but look again soon: likely transient.
            log.exception("preflight.error", pool=pool.name)
            error = CheckResult(
                "preflight",
                "fail",
                pool.azure.subnet_id,
                f"the preflight could not run: {type(exc).__name__}: {exc}",
                "check the provisioner's access to Resource Manager; the pool is checked again shortly",
            )
            return PreflightReport(pool.name, (error,)), self._error_ttl_s
        report = preflight.report
        return report, self._ttl_s if report.ok else self._failing_ttl_s

    def _announce(self, report: PreflightReport) -> None:
        problems = [c for c in report.checks if c.status != "pass"]
        key = problem_key(problems)
        previous = self._logged.get(report.pool)
        if key == previous or (previous is None and not problems):
            return
        self._logged[report.pool] = key
        if report.failures:
            log.warning(
                "preflight.failed",
                pool=report.pool,
                failing=[f"{c.name}: {c.message}" for c in report.failures],
                fixes=[f"{c.name}: {c.fix}" for c in report.failures],
                resources=[c.resource for c in report.failures],
            )
        elif problems:
            log.info(
                "preflight.warnings", pool=report.pool, warnings=[f"{c.name}: {c.message}" for c in problems]
            )
        else:
            log.info("preflight.passed", pool=report.pool, checks=len(report.checks))
