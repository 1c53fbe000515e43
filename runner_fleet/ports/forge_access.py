"""Whether the service's own forge credentials may do what a pool needs: checked by `doctor`."""

from __future__ import annotations

from typing import Protocol

from runner_fleet.ports.preflight import CheckResult
from runner_fleet.settings.pool import Pool


class ForgeAccess(Protocol):
    async def check(self, pool: Pool) -> list[CheckResult]:
        """Checks about the pool's forge scope (role, permissions), named like the network checks."""

    async def close(self) -> None: ...
