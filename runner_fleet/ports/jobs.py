"""Looking a job up on its forge before acting on it: GitLab's hooks lack the job's tags, and neither
forge's webhook is proof that a job is still waiting (a GitHub delivery can be replayed under a new
`X-GitHub-Delivery`, a GitLab hook is guarded by a shared token only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from runner_fleet.settings.pool import Pool


@dataclass(frozen=True)
class JobRef:
    """Where to ask the forge about a job: what a queue message says about it (a claim to check)."""

    job_id: int
    repository: str  # GitHub: owner/name; GitLab: the project's path with namespace
    project_id: int | None = None  # GitLab only
    org: str = ""  # GitHub only
    installation_id: int | None = None  # GitHub only


@dataclass(frozen=True)
class Resolution:
    """Which pool should serve a job now; `pool` is None when none should (with the reason why)."""

    pool: Pool | None
    reason: str = ""


# The forge's word that a job is over: what a release needs before it deletes anything (GitLab's
# final statuses, and GitHub's `completed`).
FINISHED = frozenset({"success", "failed", "canceled", "skipped", "completed"})


class JobResolver(Protocol):
    async def resolve(self, job: JobRef, pools: list[Pool]) -> Resolution:
        """The pool for a job that is still waiting for a runner, looked up on the forge.

        What the message claims (repository, labels) is not trusted: the forge's own answer decides.
        """

    async def status(self, job: JobRef) -> str | None:
        """The job's status as the forge reports it now, or None when the forge has no such job."""

    async def close(self) -> None: ...
