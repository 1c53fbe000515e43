"""Repositories that GitHub's `workflow_job` webhooks named lately: where the recovery scan looks first.

One row per repository in the `recent-repository-github` partition, overwritten on every accepted
webhook for a job one of the pools serves, so its `seen_at` is the latest mention.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from runner_fleet.state.table import StateTable, encode_key

PARTITION = "recent-repository-github"
# GitHub cancels a self-hosted job that waited 24 h for a runner: a repository not mentioned for
# that long has no job left that an earlier webhook told us about.
KEEP_S = 24 * 3600.0


class RecentRepositories:
    def __init__(
        self, table: StateTable, *, clock: Callable[[], float] = time.time, keep_s: float = KEEP_S
    ) -> None:
        self._table = table
        self._clock = clock
        self._keep_s = keep_s

    async def note(self, org: str, repository: str) -> None:
        """A webhook for a job in `repository` (owner/name) of `org` was accepted just now."""
        await self._table.upsert(
            PARTITION,
            encode_key(repository.casefold()),
            {"org": org.casefold(), "repository": repository, "seen_at": self._clock()},
        )

    async def of_org(self, org: str) -> set[str]:
        """The repositories of `org` mentioned within the last day; older rows are deleted on the way."""
        cutoff = self._clock() - self._keep_s
        found: set[str] = set()
        for record in await self._table.query(PARTITION):
            if float(record.data.get("seen_at") or 0) < cutoff:
                await self._table.delete(record.partition, record.key)
            elif record.data.get("org") == org.casefold():
                found.add(str(record.data.get("repository")))
        return found
