"""Looking a job up on its forge, for forges whose webhooks do not say enough (GitLab: no tags)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from runner_fleet.settings.pool import Pool


@dataclass(frozen=True)
class Resolution:
    """Which pool should serve a job now; `pool` is None when none should (with the reason why)."""

    pool: Pool | None
    reason: str = ""


# The forge's word that a job is over: what a release needs before it deletes anything.
FINISHED = frozenset({"success", "failed", "canceled", "skipped"})


class JobResolver(Protocol):
    async def resolve(self, job_id: int, project_id: int, project_path: str, pools: list[Pool]) -> Resolution:
        """The pool for a job that is still waiting for a runner, looked up on the forge.

        `project_path` is what the webhook claimed; the forge's own answer decides.
        """

    async def status(self, job_id: int, project_id: int) -> str | None:
        """The job's status as the forge reports it now, or None when the forge has no such job."""

    async def close(self) -> None: ...
