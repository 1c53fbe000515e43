"""The CI side: registering single-use runners and removing their registrations."""

from __future__ import annotations

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


class RunnerNameTaken(Exception):
    """The forge already has a runner with this name (a retried step, or a name collision)."""


class RunnerBusy(Exception):
    """The forge refuses to remove a runner that is running a job."""


class RunnerRegistry(Protocol):
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
