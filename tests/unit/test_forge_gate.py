"""The forge check gate: one check per pool every few minutes, failing closed, pools of other forges pass."""

from __future__ import annotations

from dataclasses import dataclass, field

from runner_fleet.ports.preflight import CheckResult, Status
from runner_fleet.preflight.forge_gate import DEFAULT_TTL_S, ERROR_TTL_S, FAILING_TTL_S, ForgeAccessGate
from runner_fleet.settings.pool import Pool
from tests.builders import make_pool

POOL = make_pool()
GITLAB = make_pool("gl", ("deploy",), forge="gitlab", github=None, gitlab={"group_id": 4})


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Checker:
    """Answers with each status in turn (None: the forge cannot be reached), then the last one."""

    statuses: list[Status | None] = field(default_factory=lambda: ["pass"])
    calls: int = 0

    async def check(self, pool: Pool) -> list[CheckResult]:
        status = self.statuses[min(self.calls, len(self.statuses) - 1)]
        self.calls += 1
        if status is None:
            raise ConnectionError("forge unreachable")
        return [CheckResult("github-runner-group", status, "g", "found", "" if status == "pass" else "fix")]

    async def close(self) -> None:
        return None


async def test_a_passing_pool_is_asked_again_only_after_the_ttl() -> None:
    """A pass is reused for DEFAULT_TTL_S, then the forge is asked again."""
    clock, checker = Clock(), Checker()
    gate = ForgeAccessGate({"github": lambda: checker}, clock=clock)
    assert (await gate.check(POOL)).ok and (await gate.check(POOL)).ok
    clock.now = DEFAULT_TTL_S + 1
    await gate.check(POOL)
    assert checker.calls == 2


async def test_a_failing_pool_is_looked_at_again_sooner() -> None:
    """A failure is cached only FAILING_TTL_S: whoever fixes the group sees jobs move within a minute."""
    clock, checker = Clock(), Checker(["fail", "pass"])
    gate = ForgeAccessGate({"github": lambda: checker}, clock=clock)
    assert not (await gate.check(POOL)).ok
    clock.now = FAILING_TTL_S + 1
    assert (await gate.check(POOL)).ok


async def test_a_check_that_cannot_run_fails_closed_and_is_retried_soon() -> None:
    """An error asking the forge fails the pool (no VM) and is tried again after ERROR_TTL_S."""
    clock, checker = Clock(), Checker([None, "pass"])
    gate = ForgeAccessGate({"github": lambda: checker}, clock=clock)
    report = await gate.check(POOL)
    assert not report.ok and report.failures[0].name == "github-access"
    clock.now = ERROR_TTL_S + 1
    assert (await gate.check(POOL)).ok


async def test_pools_of_a_forge_without_a_checker_pass() -> None:
    """A GitLab pool is not gated by a GitHub-only gate."""
    checker = Checker(["fail"])
    gate = ForgeAccessGate({"github": lambda: checker})
    assert (await gate.check(GITLAB)).ok and checker.calls == 0
