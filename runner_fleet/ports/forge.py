"""The CI side: registering single-use runners and removing their registrations."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from runner_fleet.settings.pool import Pool


@dataclass(frozen=True)
class RunnerScope:
    """Where a runner is registered: a GitHub org (or one repository), or a GitLab group / project."""

    pool: Pool
    org: str
    repository: str | None = None
    installation_id: int | None = None

    @classmethod
    def of_pool(cls, pool: Pool) -> RunnerScope:
        """Where the pool's runners are registered, from its settings alone (no webhook at hand)."""
        org = (
            pool.github.org
            if pool.github
            else str(pool.gitlab.group_id or pool.gitlab.project_id)
            if pool.gitlab
            else ""
        )
        return cls(pool, org, pool.registration_repository)


def distinct_scopes(pools: Iterable[Pool]) -> list[RunnerScope]:
    """One scope per place registrations are listed (pools often share an org or a group)."""
    scopes: dict[tuple[str, str, str | None], RunnerScope] = {}
    for pool in pools:
        scope = RunnerScope.of_pool(pool)
        scopes.setdefault((pool.forge, scope.org, scope.repository), scope)
    return list(scopes.values())


@dataclass(frozen=True)
class Registration:
    runner_id: int
    name: str
    # The JIT config / runner token the VM needs. Never logged; only rendered into custom data.
    secret: str

    def __repr__(self) -> str:
        return f"Registration(runner_id={self.runner_id}, name={self.name!r}, secret=***)"


@dataclass(frozen=True)
class RunnerInfo:
    runner_id: int
    name: str
    status: str  # online | offline
    busy: bool
    labels: tuple[str, ...] = ()
    # The job it runs, where the forge says (GitLab's runner jobs API); None when idle or unknown.
    job_id: int | None = None


class RunnerNameTaken(Exception):
    """The forge already has a runner with this name (a retried step, or a name collision)."""


class RunnerBusy(Exception):
    """The forge refuses to remove a runner that is running a job."""


class ForgeRateLimited(Exception):
    """The forge asked for no more requests for `retry_after_s`: not a failure, try again after it."""

    def __init__(self, retry_after_s: float, reason: str) -> None:
        super().__init__(f"{reason}; retry in {retry_after_s:.0f}s")
        self.retry_after_s = retry_after_s
        self.reason = reason


class RunnerRegistry(Protocol):
    # True where the forge deletes a registration itself once its one job ends (GitHub's JIT
    # runners): a release then has nothing to look up, and leftovers are the reconciler's.
    removes_itself_after_job: bool

    async def register(self, scope: RunnerScope, name: str) -> Registration:
        """Create a single-use runner registration; raise `RunnerNameTaken` if the name exists."""

    async def find(self, scope: RunnerScope, name: str) -> RunnerInfo | None: ...

    async def get(self, scope: RunnerScope, runner_id: int) -> RunnerInfo | None: ...

    async def remove(self, scope: RunnerScope, runner_id: int) -> bool:
        """Delete a registration; False if it was already gone; `RunnerBusy` if it runs a job."""

    async def list_runners(self, scope: RunnerScope) -> list[RunnerInfo]: ...

    def forge_url(self, scope: RunnerScope) -> str:
        """The URL the runner on the VM talks to (shown in runner.json; the JIT config carries its own)."""

    async def close(self) -> None: ...
