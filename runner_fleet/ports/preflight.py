"""Network preflight: can a pool's runners reach its private cluster? Checked before money is spent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from runner_fleet.settings.pool import Pool

Status = Literal["pass", "warn", "fail"]


@dataclass(frozen=True)
class CheckResult:
    name: str  # stable identifier, e.g. "peering", "dns-link", "custom-dns", "subnet-capacity"
    status: Status
    resource: str  # the Azure resource ID (or name) the check concerns
    message: str  # what was found, one line
    fix: str = ""  # what to do about it, one line (empty when passing)


@dataclass(frozen=True)
class PreflightReport:
    pool: str
    checks: tuple[CheckResult, ...]
    # When the gate that made this report looks at the pool again (seconds), if it says so: a job
    # held back by a failing pool is tried again then, not later.
    recheck_in_s: float | None = None
    # Names a runner must resolve to a private address and connect to on 443 before it registers:
    # the private endpoints the pool lists, as the preflight found them (their DNS names).
    endpoints: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """No check failed (warnings allow provisioning)."""
        return all(check.status != "fail" for check in self.checks)

    @property
    def failures(self) -> tuple[CheckResult, ...]:
        return tuple(check for check in self.checks if check.status == "fail")


class PreflightGate(Protocol):
    async def check(self, pool: Pool) -> PreflightReport:
        """The pool's preflight report; implementations cache it for a few minutes."""

    async def close(self) -> None: ...
