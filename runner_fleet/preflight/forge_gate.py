"""`ForgeAccessGate`: what the forge says of a pool's scope (GitHub: its runner group), checked before
the first VM and then every few minutes, like the network preflight (`gate.AzurePreflightGate`).

A pool whose check fails gets no VM: its jobs wait and are retried, never dropped. A check that
cannot run fails closed and is tried again soon. Concurrent checks of one pool share one run, and a
failing pool is logged once per distinct set of problems, with their fixes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from runner_fleet.forges import Forge
from runner_fleet.logs import get_logger
from runner_fleet.ports.forge_access import ForgeAccess
from runner_fleet.ports.preflight import CheckResult, PreflightReport
from runner_fleet.preflight.cached_gate import DEFAULT_TTL_S, ERROR_TTL_S, FAILING_TTL_S, CachedGate
from runner_fleet.settings.pool import Pool

log = get_logger("forge_gate")

__all__ = ["DEFAULT_TTL_S", "ERROR_TTL_S", "FAILING_TTL_S", "ForgeAccessGate"]


class ForgeAccessGate(CachedGate):
    """Gates the forges it has a checker for; pools of other forges pass."""

    event = "forge_check"

    def __init__(
        self,
        checkers: Mapping[Forge, Callable[[], ForgeAccess]],
        *,
        ttl_s: float = DEFAULT_TTL_S,
        failing_ttl_s: float = FAILING_TTL_S,
        error_ttl_s: float = ERROR_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(log, ttl_s=ttl_s, failing_ttl_s=failing_ttl_s, error_ttl_s=error_ttl_s, clock=clock)
        self._factories = dict(checkers)
        self._checkers: dict[Forge, ForgeAccess] = {}

    async def check(self, pool: Pool) -> PreflightReport:
        if pool.forge not in self._factories:
            return PreflightReport(pool.name, ())
        return await super().check(pool)

    async def close(self) -> None:
        for checker in self._checkers.values():
            await checker.close()
        self._checkers.clear()

    async def _checks(self, pool: Pool) -> PreflightReport:
        checker = self._checkers.get(pool.forge)
        if checker is None:
            checker = self._checkers[pool.forge] = self._factories[pool.forge]()
        return PreflightReport(pool.name, tuple(await checker.check(pool)))

    def _error(self, pool: Pool, exc: Exception) -> PreflightReport:
        # No runner others may take until the forge answers.
        log.warning(
            "forge_check.error",
            pool=pool.name,
            forge=pool.forge,
            error=f"{type(exc).__name__}: {exc}"[:300],
        )
        error = CheckResult(
            f"{pool.forge}-access",
            "fail",
            pool.forge,
            f"could not ask {pool.forge}: {type(exc).__name__}",
            "check the forge's URL and credentials; the pool is checked again shortly",
        )
        return PreflightReport(pool.name, (error,))
