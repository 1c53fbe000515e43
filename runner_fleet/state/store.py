"""The rules of the state table, on top of any `StateTable` backend.

Azure is the truth for what exists; this table holds intent, bindings and de-duplication. Keys go
through `encode_key`; times are epoch seconds from this store's clock. "Housekeeping" is the hourly
timer (`Runtime.housekeeping`); its retentions are set, with their reasons, in `runner_fleet/runtime.py`.
Every partition, what it holds, who writes and reads it, and when its rows go:

- `delivery-<forge>` (github, gitlab): webhook deliveries already accepted (de-duplication).
  Key: the forge's delivery ID (GitHub `X-GitHub-Delivery`; GitLab `webhook-id`, `Idempotency-Key`
  or `X-Gitlab-Event-UUID`, else `job-<id>-<status>`); `received_at`. Written by the webhook path
  (`claim_delivery`: an insert that fails for a duplicate, which is also the only read;
  `forget_delivery` when the work could not be enqueued). Purged by housekeeping after
  `DELIVERY_RETENTION` (3 days, as long as GitHub redelivers).
- `job-<forge>`: provisioning intent per job, with a lease so two workers never provision one job.
  Key: the forge's job ID; `state` (provisioning, provisioned, reaped, done; `released` is still
  read, no longer written), `runner_name`, `pool`, `owner` (the queue message holding the lease),
  `lease_until`, `claimed_at`, `queued_at` (the earliest the forge said it was queued), `updated`,
  `vm`. Written by provision (`claim_job`,
  `mark_job("provisioned")`, `drop_claim`), by release and GitHub's `completed` hook (`settle_job`:
  done, which is final) and by release and the reconciler (`reopen_job`: reaped); every write is
  conditional on the ETag of the row just read. Read by provision (`claim_job`) and the reconciler:
  `active_leases` (only the `provisioning` rows, filtered by the table, once per forge a round and
  again before acting on a suspect) and `job` (one row per job the forge lists as waiting).
  Purged by housekeeping (`purge_jobs`): `done` rows `JOB_RETENTION` (3 days) after they were
  settled; rows left in another state (a job whose end we never heard of) `ABANDONED_JOB_RETENTION`
  (7 days) after their last write, never while a lease runs.
- `pool-runner-<forge>`: runners made for a pool rather than a job (warm ones and their
  replacements). Key: runner name; `key` (the claim's key, `pool:<key>` in `job-<forge>`), `pool`,
  `at`. Written by the pool-runner provision (`note_pool_runner`), read when a job starts on a runner
  (`pool_runner_key`: was it a warm one to replace?), deleted with the claim row when the runner is
  released or reaped (`forget_pool_runner`); housekeeping purges rows older than
  `ABANDONED_JOB_RETENTION` (a runner lives at most its pool's max lifetime).
- `binding-gitlab`: which of our runners took a job (GitLab hides it once the runner is deleted).
  Key: job ID; `runner_name`, `runner_id`, `bound_at`. Written by the `running` hook and the
  reconciler's deregister (`bind_job`), before the registration goes. Read by the job's end hook
  (`job_binding`). Purged by housekeeping after `RECOVERY_RETENTION` (1 day).
- `recovery-<forge>`: when the reconciler last enqueued a provision for a job it found waiting.
  Key: job ID; `at`. Written by the reconciler (`note_recovery`), deleted by `reopen_job`. Read by
  the reconciler per waiting job (`recovery_started`). Purged by housekeeping after
  `RECOVERY_RETENTION` (1 day).
- `suspect`: runners a round found wrong, acted on only if still wrong a round later. Key: runner
  name; `action`, `reason`, `since`. Written, read (once a round) and cleared by the reconciler,
  which clears every suspect it does not find wrong again: never more rows than runners.
- `idle`: when each runner was first seen online and idle. Key: runner name; `since`. Written and
  read (once a round) by the reconciler; cleared when the runner is busy, deleted, or no longer
  seen at all (next round).
- `slot-<pool>`: the pool's capacity slots, one row per runner being made or alive. Key: slot
  number (`0000`...); `runner_name`, `at`. Taken by provision (`claim_slot`: an insert, so two
  workers never take one slot); freed when the registration or the VM create fails, by release, by
  the reconciler when it deletes a runner, and by the reconciler when nothing has been behind a slot
  for `SLOT_GRACE_S`. At most `max_runners` rows.
- `recent-repository-github` (`state/recent_repositories.py`): repositories GitHub webhooks named
  lately. Key: the repository, casefolded; `org`, `repository`, `seen_at`. Written by the webhook
  path; read by the GitHub recovery scan (`of_org`), which deletes rows older than a day as it reads.
- `warm-arrival`, `warm-demand` (`warm/demand.py`): adaptive warm pools' demand; purged after 2 days.
- `pool-request` (`state/pool_requests.py`): pool runners asked for and not yet claimed (the
  reconciler's top-ups and the replacements of warm runners jobs took); deleted once seen or leased,
  or on read after 10 minutes.
- `runner-start-<forge>` (`state/runner_starts.py`): runners a webhook said just started a job (the
  forge's `busy` flag lags); the reconciler purges rows older than 10 minutes every round.
- `reconcile-round` (`state/pool_rounds.py`): one row per pool, what the last round saw (its time,
  the warm runners it kept, the runners online); overwritten every round.
- `usage-<YYYYMMDD>` (`state/usage.py`): one row per runner VM gone, on the UTC day of its release
  (key: runner name; pool, job, size, spot, VM time, busy time, wait, cost). Written once per VM by
  release, or by the reconciler when it deletes one; read by `report` and `status`. Housekeeping
  purges each day once it is `USAGE_RETENTION` (35 days) old, remembering in `usage-purged` (one row)
  the last day it purged.
- `usage-start-<forge>` (`state/usage.py`): when a job started on each runner, and when it was queued.
  Key: runner name. Written with `runner-start-<forge>`, deleted when the runner's usage row is
  written; housekeeping purges rows older than `START_RETENTION` (7 days).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from runner_fleet.forges import Forge
from runner_fleet.state.errors import AlreadyExists, NotFound, PreconditionFailed
from runner_fleet.state.table import Data, Record, StateTable, encode_key

# reaped: the reconciler deleted the job's VM (it never came up, or died); if the forge still lists the job as
# waiting, it may be provisioned again.
JobState = Literal["provisioning", "provisioned", "released", "reaped", "done"]
REPROVISIONABLE = frozenset({"reaped"})
# The states a job's runner may be lost in (and the job reopened): not yet made, made, or released.
REOPENABLE = frozenset({"provisioning", "provisioned", "released"})
# The fields a job record's writers stamp with this store's clock; the lease counts only while provisioning.
_JOB_STAMPS = ("updated", "claimed_at", "lease_until")


@dataclass(frozen=True)
class JobClaim:
    """The outcome of trying to take a job for provisioning."""

    granted: bool
    state: JobState
    runner_name: str
    record: Record | None
    # When not granted: another worker holds the lease until this time (epoch seconds), or 0 if done.
    busy_until: float = 0.0


class FleetState:
    def __init__(self, table: StateTable, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._table = table

    @property
    def table(self) -> StateTable:
        return self._table

    # -- webhook deliveries ---------------------------------------------------------------------
    async def claim_delivery(self, forge: Forge, delivery_id: str) -> bool:
        """True the first time a delivery is seen; False for a duplicate or redelivery."""
        try:
            await self._table.insert(
                f"delivery-{forge}", encode_key(delivery_id), {"received_at": self._clock()}
            )
        except AlreadyExists:
            return False
        return True

    async def forget_delivery(self, forge: Forge, delivery_id: str) -> None:
        """Undo a claim whose work could not be enqueued, so the forge's redelivery is not ignored."""
        await self._table.delete(f"delivery-{forge}", encode_key(delivery_id))

    async def purge_deliveries(self, forge: Forge, older_than: timedelta) -> int:
        return await self._purge(f"delivery-{forge}", older_than, "received_at")

    async def _purge(self, partition: str, older_than: timedelta, stamp: str) -> int:
        """Delete rows whose `stamp` (written with this store's clock) is older than `older_than`."""
        cutoff = self._clock() - older_than.total_seconds()
        removed = 0
        for record in await self._table.query(partition):
            written = record.data.get(stamp)
            # A row without the stamp is from before it was written: the table's own time decides.
            at = float(written) if isinstance(written, int | float) else record.updated_at.timestamp()
            if at < cutoff and await self._table.delete(record.partition, record.key):
                removed += 1
        return removed

    # -- jobs -----------------------------------------------------------------------------------
    async def claim_job(
        self,
        forge: Forge,
        job_key: str,
        *,
        runner_name: str,
        pool: str,
        owner: str,
        lease_s: float,
        queued_at: float | None = None,
    ) -> JobClaim:
        """Take the provisioning lease on a job, or learn who holds it / that it is done.

        The same `owner` (the queue message ID, stable across redeliveries of that message) may
        re-take its own lease, so a retried message continues where the failed attempt stopped.
        `queued_at`: when the forge said the job was queued (the earliest one heard is kept).
        """
        partition, key = f"job-{forge}", encode_key(job_key)
        now = self._clock()
        data: Data = {
            "state": "provisioning",
            "runner_name": runner_name,
            "pool": pool,
            "owner": owner,
            "lease_until": now + lease_s,
            "claimed_at": now,
            "queued_at": queued_at,
        }
        for _ in range(3):
            existing = await self._table.get(partition, key)
            if existing is not None:
                data["queued_at"] = _earliest(existing.data.get("queued_at"), queued_at)
            if existing is None:
                try:
                    record = await self._table.insert(partition, key, data)
                except AlreadyExists:
                    continue
                return JobClaim(True, "provisioning", runner_name, record)
            state = str(existing.data.get("state", "provisioning"))
            if state in REPROVISIONABLE:
                try:
                    record = await self._table.replace(existing, data)
                except (PreconditionFailed, NotFound):
                    continue
                return JobClaim(True, "provisioning", runner_name, record)
            if state != "provisioning":
                name = str(existing.data.get("runner_name", runner_name))
                return JobClaim(False, state, name, existing)  # type: ignore[arg-type]
            lease_until = float(existing.data.get("lease_until") or 0)
            if existing.data.get("owner") != owner and lease_until > now:
                return JobClaim(False, "provisioning", runner_name, existing, busy_until=lease_until)
            try:
                first_claim = existing.data.get("claimed_at", now)
                record = await self._table.replace(
                    existing, {**existing.data, **data, "claimed_at": first_claim}
                )
            except (PreconditionFailed, NotFound):
                continue
            return JobClaim(True, "provisioning", runner_name, record)
        raise PreconditionFailed("job claim kept changing under us")

    async def mark_job(self, forge: Forge, job_key: str, state: JobState, **extra: str | float | int) -> None:
        """Move a job to `state`, keeping its other fields and setting `extra`.

        Conditional, like `claim_job`: a change made between our read and our write (a lease taken
        over, the job settled) is read again, never overwritten. `done` is final: a provision that
        finishes after its job was settled does not bring the job back.
        """
        await self._move_job(forge, job_key, state, extra)

    async def _move_job(
        self,
        forge: Forge,
        job_key: str,
        state: JobState,
        extra: Mapping[str, str | float | int],
        *,
        only_from: frozenset[str] | None = None,
    ) -> bool:
        """Write `state` on the current version of the record; False if its state forbids the move.

        `only_from`: the states the job may be in (None: any, or no record yet).
        """
        partition, key = f"job-{forge}", encode_key(job_key)
        for _ in range(3):
            existing = await self._table.get(partition, key)
            current = None if existing is None else str(existing.data.get("state", "provisioning"))
            if current == "done" and state != "done":
                return False
            if only_from is not None and current not in only_from:
                return False
            data: Data = {**(existing.data if existing else {}), **extra, "state": state}
            data["updated"] = self._clock()
            try:
                if existing is None:
                    await self._table.insert(partition, key, data)
                else:
                    await self._table.replace(existing, data)
            except (AlreadyExists, PreconditionFailed, NotFound):
                continue  # someone wrote (or deleted) it since our read: decide again on what is there
            return True
        raise PreconditionFailed("job record kept changing under us")

    async def settle_job(self, forge: Forge, job_key: str) -> None:
        """Record that a job ended: no provision for it may create a VM any more."""
        await self.mark_job(forge, job_key, "done")

    async def reopen_job(self, forge: Forge, job_key: str) -> None:
        """The runner made for this job is gone without having run it: it may be provisioned again."""
        await self._move_job(forge, job_key, "reaped", {}, only_from=REOPENABLE)
        # Whatever recovery was under way served the runner now gone: the next round may start another.
        await self._table.delete(f"recovery-{forge}", encode_key(job_key))

    # -- recovery of missed jobs ----------------------------------------------------------------
    async def note_recovery(self, forge: Forge, job_key: str, at: float) -> None:
        """The reconciler enqueued a provision for this job (its copy may wait in the queue a while)."""
        await self._table.upsert(f"recovery-{forge}", encode_key(job_key), {"at": at})

    async def recovery_started(self, forge: Forge, job_key: str) -> float | None:
        """When the reconciler last enqueued a provision for this job, if it did since the job reopened."""
        record = await self._table.get(f"recovery-{forge}", encode_key(job_key))
        return float(record.data.get("at") or 0) if record is not None else None

    async def purge_recoveries(self, forge: Forge, older_than: timedelta) -> int:
        return await self._purge(f"recovery-{forge}", older_than, "at")

    async def job(self, forge: Forge, job_key: str) -> Record | None:
        return await self._table.get(f"job-{forge}", encode_key(job_key))

    async def jobs(self, forge: Forge) -> list[Record]:
        """Every job record of a forge, finished ones included (for tests and tools, not per round)."""
        return await self._table.query(f"job-{forge}")

    async def purge_jobs(self, forge: Forge, *, finished_for: timedelta, abandoned_for: timedelta) -> int:
        """Delete `done` records settled more than `finished_for` ago, and records left in any other
        state with no write (and no lease) for `abandoned_for`. Returns how many went.

        Each delete is conditional on the version read: a record written meanwhile stays.
        """
        now = self._clock()
        removed = 0
        for record in await self._table.query(f"job-{forge}"):
            keep = finished_for if record.data.get("state") == "done" else abandoned_for
            if now - _last_written(record) < keep.total_seconds():
                continue
            with contextlib.suppress(PreconditionFailed):
                if await self._table.delete(record.partition, record.key, etag=record.etag):
                    removed += 1
        return removed

    async def note_progress(
        self, forge: Forge, job_key: str, *, owner: str, lease_s: float, **fields: str | float | int | bool
    ) -> bool:
        """Write `fields` on a claim while `owner` still holds it, extending its lease; False if not.

        How a VM create in flight keeps its place across follow-ups: which of the pool's sizes it
        tried, whether its failed VM is being deleted.
        """
        partition, key = f"job-{forge}", encode_key(job_key)
        for _ in range(3):
            existing = await self._table.get(partition, key)
            if (
                existing is None
                or existing.data.get("state") != "provisioning"
                or existing.data.get("owner") != owner
            ):
                return False
            data: Data = {**existing.data, **fields, "lease_until": self._clock() + lease_s}
            try:
                await self._table.replace(existing, data)
            except (PreconditionFailed, NotFound):
                continue
            return True
        raise PreconditionFailed("job claim kept changing under us")

    # -- pool runners ---------------------------------------------------------------------------
    async def note_pool_runner(self, forge: Forge, runner_name: str, *, key: str, pool: str) -> None:
        await self._table.upsert(
            f"pool-runner-{forge}", encode_key(runner_name), {"key": key, "pool": pool, "at": self._clock()}
        )

    async def pool_runner_key(self, forge: Forge, runner_name: str) -> str | None:
        """The claim key of a runner made for its pool, or None for a runner made for a job."""
        record = await self._table.get(f"pool-runner-{forge}", encode_key(runner_name))
        return str(record.data.get("key") or "") or None if record is not None else None

    async def forget_pool_runner(self, forge: Forge, runner_name: str) -> None:
        """The runner is gone: its rows go with it (its claim would otherwise wait for the purge)."""
        key = await self.pool_runner_key(forge, runner_name)
        if key is not None:
            await self._table.delete(f"job-{forge}", encode_key(key))
        await self._table.delete(f"pool-runner-{forge}", encode_key(runner_name))

    async def purge_pool_runners(self, forge: Forge, older_than: timedelta) -> int:
        return await self._purge(f"pool-runner-{forge}", older_than, "at")

    # -- runner bindings ------------------------------------------------------------------------
    async def bind_job(self, forge: Forge, job_key: str, *, runner_name: str, runner_id: int) -> None:
        """Remember which of our runners took a job.

        GitLab shows `runner: null` in a job's later hooks and API answers once that runner's
        registration is deleted, which we do as soon as the job starts: the binding is how the
        job's `success`/`failed`/`canceled` hook still finds the VM to release.
        """
        await self._table.upsert(
            f"binding-{forge}",
            encode_key(job_key),
            {"runner_name": runner_name, "runner_id": runner_id, "bound_at": self._clock()},
        )

    async def job_binding(self, forge: Forge, job_key: str) -> tuple[str, int] | None:
        """The runner name and id that took this job, if we saw it start."""
        record = await self._table.get(f"binding-{forge}", encode_key(job_key))
        if record is None or not record.data.get("runner_name"):
            return None
        return str(record.data["runner_name"]), int(record.data.get("runner_id") or 0)

    async def purge_bindings(self, forge: Forge, older_than: timedelta) -> int:
        return await self._purge(f"binding-{forge}", older_than, "bound_at")

    # -- reconciler bookkeeping -----------------------------------------------------------------
    async def suspects(self) -> list[Record]:
        """Runners a reconcile round found wrong; acted on only if still wrong a round later."""
        return await self._table.query("suspect")

    async def mark_suspect(self, runner_name: str, *, action: str, reason: str) -> None:
        await self._table.upsert(
            "suspect", encode_key(runner_name), {"action": action, "reason": reason, "since": self._clock()}
        )

    async def clear_suspect(self, runner_name: str) -> None:
        await self._table.delete("suspect", encode_key(runner_name))

    async def idle_since(self) -> dict[str, float]:
        return {
            record.key: float(record.data.get("since") or 0) for record in await self._table.query("idle")
        }

    async def idle_since_of(self, runner_name: str) -> float | None:
        """When one runner was first seen idle (one row read, not the whole partition)."""
        record = await self._table.get("idle", encode_key(runner_name))
        return None if record is None else float(record.data.get("since") or 0)

    async def mark_idle(self, runner_name: str, since: float) -> None:
        await self._table.upsert("idle", encode_key(runner_name), {"since": since})

    async def clear_idle(self, runner_name: str) -> None:
        await self._table.delete("idle", encode_key(runner_name))

    async def active_leases(self, forge: Forge, now: float) -> set[str]:
        """Runner names whose job is being provisioned right now (lease held and not expired)."""
        # Only the `provisioning` rows are read: finished jobs, however many, cost nothing here.
        provisioning = await self._table.query_where(f"job-{forge}", {"state": "provisioning"})
        return {
            str(record.data.get("runner_name"))
            for record in provisioning
            if float(record.data.get("lease_until") or 0) > now
        }

    # -- capacity -------------------------------------------------------------------------------
    async def claim_slot(self, pool: str, runner_name: str, max_runners: int) -> int | None:
        """Take one of the pool's `max_runners` slots for a runner (atomically); None when all are taken.

        A slot already held by this runner is returned again, so a retried step does not take two.
        """
        partition = f"slot-{pool}"
        taken = await self._table.query(partition)
        for record in taken:
            if record.data.get("runner_name") == runner_name:
                return int(record.key)
        used = {int(record.key) for record in taken}
        for slot in range(max_runners):
            if slot in used:
                continue
            try:
                await self._table.insert(
                    partition, f"{slot:04d}", {"runner_name": runner_name, "at": self._clock()}
                )
            except AlreadyExists:
                continue  # another worker took it a moment ago
            return slot
        return None

    async def free_slot(self, pool: str, runner_name: str) -> bool:
        freed = False
        for record in await self._table.query(f"slot-{pool}"):
            if record.data.get("runner_name") == runner_name:
                freed = await self._table.delete(record.partition, record.key) or freed
        return freed

    async def slots(self, pool: str) -> dict[str, float]:
        """Runner name -> when its slot was taken."""
        return {
            str(record.data.get("runner_name")): float(record.data.get("at") or 0)
            for record in await self._table.query(f"slot-{pool}")
        }

    async def drop_claim(self, forge: Forge, job_key: str, *, owner: str) -> None:
        """Give up a job's provisioning lease (the job will be tried again later by a new message)."""
        record = await self.job(forge, job_key)
        if (
            record is not None
            and record.data.get("owner") == owner
            and record.data.get("state") == "provisioning"
        ):
            # PreconditionFailed: someone else moved it on; nothing of ours to give up.
            with contextlib.suppress(PreconditionFailed):
                await self._table.delete(record.partition, record.key, etag=record.etag)


def _earliest(*stamps: object) -> float | None:
    known = [float(s) for s in stamps if isinstance(s, int | float) and not isinstance(s, bool)]
    return min(known) if known else None


def _last_written(record: Record) -> float:
    """The latest time the job record was written (or, while provisioning, is leased until), by this
    store's clock. A record without any stamp is from before they were written: the table's time decides.
    """
    names = _JOB_STAMPS if record.data.get("state", "provisioning") == "provisioning" else _JOB_STAMPS[:2]
    stamps = [float(v) for name in names if isinstance(v := record.data.get(name), int | float)]
    return max(stamps) if stamps else record.updated_at.timestamp()
