"""`AzurePreflightGate`: the provisioning guard. One preflight per pool every few minutes, not per job.

Private DNS allows few reads per subscription, and a burst of jobs for one pool must not become a
burst of reads: the caching and the once-per-problem logging are `CachedGate`'s.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from runner_fleet.logs import get_logger
from runner_fleet.ports.preflight import CheckResult, PreflightReport
from runner_fleet.preflight.cached_gate import DEFAULT_TTL_S, ERROR_TTL_S, FAILING_TTL_S, CachedGate
from runner_fleet.preflight.reader import TopologyReader
from runner_fleet.preflight.run import run_preflight
from runner_fleet.settings.pool import Pool
from runner_fleet.settings.service import ServiceSettings

log = get_logger("preflight")


class AzurePreflightGate(CachedGate):
    event = "preflight"

    def __init__(
        self,
        reader: Callable[[], TopologyReader],
        pools: Sequence[Pool] = (),
        *,
        settings: ServiceSettings,
        ttl_s: float = DEFAULT_TTL_S,
        failing_ttl_s: float = FAILING_TTL_S,
        error_ttl_s: float = ERROR_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(log, ttl_s=ttl_s, failing_ttl_s=failing_ttl_s, error_ttl_s=error_ttl_s, clock=clock)
        self._build_reader = reader
        self._reader: TopologyReader | None = None
        self._pools = tuple(pools)
        self._settings = settings  # the forge hosts the egress check asks the way out for

    async def close(self) -> None:
        if self._reader is not None:
            await self._reader.close()
            self._reader = None

    async def _checks(self, pool: Pool) -> PreflightReport:
        if self._reader is None:
            self._reader = self._build_reader()
        return (await run_preflight(pool, self._reader, pools=self._pools, settings=self._settings)).report

    def _error(self, pool: Pool, exc: Exception) -> PreflightReport:
        log.exception("preflight.error", pool=pool.name)
        error = CheckResult(
            "preflight",
            "fail",
            pool.azure.subnet_id,
            f"the preflight could not run: {type(exc).__name__}: {exc}",
            "check the provisioner's access to Resource Manager; the pool is checked again shortly",
        )
        return PreflightReport(pool.name, (error,))
