"""Runners of ours that a webhook said just started a job: what the forge's `busy` flag may not show yet.

GitHub's REST `busy` field can read false for 25-60 s (and more) after a job was assigned
(terraform-aws-github-runner#5085 and #5228, where scale-down killed running jobs on that reading),
so the reconciler trusts a start heard here over an idle reading. One row per runner in the
`runner-start-<forge>` partition: `job_id`, `at`. Written when the webhook path's `RunnerStarted`
message is handled (GitHub `in_progress`, GitLab `running`); read by every reconcile round, which
also purges rows older than a few minutes (a row matters for two minutes), so the partition holds
only the starts of the last few minutes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

from runner_fleet.forges import Forge
from runner_fleet.state.table import StateTable, encode_key


def _partition(forge: Forge) -> str:
    return f"runner-start-{forge}"


class RunnerStarts:
    def __init__(self, table: StateTable, *, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock

    async def note(self, forge: Forge, runner_name: str, job_id: int | str, at: float) -> None:
        """`runner_name` started job `job_id` at `at` (epoch seconds); a later note for it wins."""
        await self._table.upsert(
            _partition(forge), encode_key(runner_name), {"job_id": str(job_id), "at": at}
        )

    async def started_since(self, forge: Forge, now: float, within_s: float) -> dict[str, float]:
        """Runner name -> when it started a job, for starts noted at or after `now - within_s`."""
        cutoff = now - within_s
        found: dict[str, float] = {}
        for record in await self._table.query(_partition(forge)):
            at = float(record.data.get("at") or 0)
            if at >= cutoff:
                found[record.key] = at
        return found

    async def purge(self, forge: Forge, older_than: timedelta) -> int:
        """Delete the starts noted more than `older_than` ago by this store's clock; how many went."""
        cutoff = self._clock() - older_than.total_seconds()
        removed = 0
        for record in await self._table.query(_partition(forge)):
            if float(record.data.get("at") or 0) < cutoff and await self._table.delete(
                record.partition, record.key
            ):
                removed += 1
        return removed
