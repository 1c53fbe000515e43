"""`CachedGate`: the rules every provisioning guard shares, whatever it asks (Azure, a forge).

A check per pool every few minutes, not per job: a pool's report is cached (`ttl_s`; a failing
pool is looked at again sooner, because someone is probably fixing it, and one whose check could
not run sooner still), and concurrent checks of one pool share one run. A pool is logged once per
distinct set of problems, with the checks and their fixes, not per job. Subclasses say what to run.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from runner_fleet.ports.preflight import PreflightReport
from runner_fleet.preflight.report import problem_key
from runner_fleet.settings.pool import Pool

DEFAULT_TTL_S = 300.0
FAILING_TTL_S = 60.0
ERROR_TTL_S = 30.0


@dataclass
class _Entry:
    report: PreflightReport
    expires_at: float


class CachedGate(ABC):
    # The log events are `<event>.failed`, `<event>.warnings` and `<event>.passed`.
    event: str

    def __init__(
        self,
        log: Any,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        failing_ttl_s: float = FAILING_TTL_S,
        error_ttl_s: float = ERROR_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._ttl_s, self._failing_ttl_s, self._error_ttl_s = ttl_s, failing_ttl_s, error_ttl_s
        self._clock = clock
        self._cache: dict[str, _Entry] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._logged: dict[str, frozenset[tuple[str, str, str]]] = {}

    @abstractmethod
    async def _checks(self, pool: Pool) -> PreflightReport:
        """The pool's report."""

    @abstractmethod
    def _error(self, pool: Pool, exc: Exception) -> PreflightReport:
        """Log why the check could not run (called in the `except`); the failure to report meanwhile."""

    @abstractmethod
    async def close(self) -> None:
        """Release what the checks hold (clients)."""

    async def check(self, pool: Pool) -> PreflightReport:
        cached = self._fresh(pool.name)
        if cached is not None:
            return cached
        async with self._locks.setdefault(pool.name, asyncio.Lock()):
            cached = self._fresh(pool.name)  # another task may have just refreshed it
            if cached is not None:
                return cached
            try:
                report = await self._checks(pool)
                ttl = self._ttl_s if report.ok else self._failing_ttl_s
            except Exception as exc:
                # Fail closed, but look again soon: likely transient.
                report, ttl = self._error(pool, exc), self._error_ttl_s
            self._cache[pool.name] = _Entry(report, self._clock() + ttl)
            self._announce(report)
            return report if report.ok else replace(report, recheck_in_s=ttl)

    def invalidate(self, pool: str | None = None) -> None:
        """Forget cached reports (one pool's, or all), so the next check asks again."""
        if pool is None:
            self._cache.clear()
        else:
            self._cache.pop(pool, None)

    def _fresh(self, pool: str) -> PreflightReport | None:
        entry = self._cache.get(pool)
        now = self._clock()
        if entry is None or now >= entry.expires_at:
            return None
        return entry.report if entry.report.ok else replace(entry.report, recheck_in_s=entry.expires_at - now)

    def _announce(self, report: PreflightReport) -> None:
        problems = [c for c in report.checks if c.status != "pass"]
        key = problem_key(problems)
        previous = self._logged.get(report.pool)
        if key == previous or (previous is None and not problems):
            return
        self._logged[report.pool] = key
        if report.failures:
            self._log.warning(
                f"{self.event}.failed",
                pool=report.pool,
                failing=[f"{c.name}: {c.message}" for c in report.failures],
                fixes=[f"{c.name}: {c.fix}" for c in report.failures],
                resources=[c.resource for c in report.failures],
            )
        elif problems:
            warnings = [f"{c.name}: {c.message}" for c in problems]
            self._log.info(f"{self.event}.warnings", pool=report.pool, warnings=warnings)
        else:
            self._log.info(f"{self.event}.passed", pool=report.pool, checks=len(report.checks))
