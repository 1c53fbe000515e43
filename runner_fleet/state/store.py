"""The rules of the state table, on top of any `StateTable` backend.

Partitions:
- `delivery-<forge>`: webhook deliveries already accepted (de-duplication on the forge's delivery ID);
- `job-<forge>`: provisioning intent per job, with a lease so two workers never provision one job;
- `binding-<forge>`: which of our runners took a job (GitLab hides it once the runner is deleted);
- `recovery-<forge>`: when the reconciler last enqueued a provision for a job it found waiting;
- `suspect`, `idle`: the reconciler's two-phase bookkeeping per runner name;
- `slot-<pool>`: the pool's capacity slots, one row per runner being made or alive.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from runner_fleet.state.errors import AlreadyExists, NotFound, PreconditionFailed
from runner_fleet.state.table import Data, Record, StateTable, encode_key

# reaped: the reconciler deleted the job's VM (it never came up, or died); if the forge still lists the job as
# waiting, it may be provisioned again.
JobState = Literal["provisioning", "provisioned", "released", "reaped", "done"]
REPROVISIONABLE = frozenset({"reaped"})


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
    async def claim_delivery(self, forge: str, delivery_id: str) -> bool:
        """True the first time a delivery is seen; False for a duplicate or redelivery."""
        try:
            await self._table.insert(
                f"delivery-{forge}", encode_key(delivery_id), {"received_at": self._clock()}
            )
        except AlreadyExists:
            return False
        return True

    async def forget_delivery(self, forge: str, delivery_id: str) -> None:
        """Undo a claim whose work could not be enqueued, so the forge's redelivery is not ignored."""
        await self._table.delete(f"delivery-{forge}", encode_key(delivery_id))

    async def purge_deliveries(self, forge: str, older_than: timedelta) -> int:
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
        self, forge: str, job_key: str, *, runner_name: str, pool: str, owner: str, lease_s: float
    ) -> JobClaim:
        """Take the provisioning lease on a job, or learn who holds it / that it is done.

        The same `owner` (the queue message ID, stable across redeliveries of that message) may
        re-take its own lease, so a retried message continues where the failed attempt stopped.
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
        }
        for _ in range(3):
            existing = await self._table.get(partition, key)
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

    async def mark_job(self, forge: str, job_key: str, state: JobState, **extra: str | float | int) -> None:
        partition, key = f"job-{forge}", encode_key(job_key)
        existing = await self._table.get(partition, key)
        data: Data = {**(existing.data if existing else {}), **extra, "state": state}
        data["updated"] = self._clock()
        await self._table.upsert(partition, key, data)

    async def settle_job(self, forge: str, job_key: str) -> None:
        """Record that a job ended: no provision for it may create a VM any more."""
        await self.mark_job(forge, job_key, "done")

    async def reopen_job(self, forge: str, job_key: str) -> None:
        """The runner made for this job is gone without having run it: it may be provisioned again."""
        record = await self.job(forge, job_key)
        if record is not None and record.data.get("state") in {"provisioning", "provisioned", "released"}:
            await self.mark_job(forge, job_key, "reaped")
        # Whatever recovery was under way served the runner now gone: the next round may start another.
        await self._table.delete(f"recovery-{forge}", encode_key(job_key))

    # -- recovery of missed jobs ----------------------------------------------------------------
    async def note_recovery(self, forge: str, job_key: str, at: float) -> None:
        """The reconciler enqueued a provision for this job (its copy may wait in the queue a while)."""
        await self._table.upsert(f"recovery-{forge}", encode_key(job_key), {"at": at})

    async def recovery_started(self, forge: str, job_key: str) -> float | None:
        """When the reconciler last enqueued a provision for this job, if it did since the job reopened."""
        record = await self._table.get(f"recovery-{forge}", encode_key(job_key))
        return float(record.data.get("at") or 0) if record is not None else None

    async def purge_recoveries(self, forge: str, older_than: timedelta) -> int:
        return await self._purge(f"recovery-{forge}", older_than, "at")

    async def job(self, forge: str, job_key: str) -> Record | None:
        return await self._table.get(f"job-{forge}", encode_key(job_key))

    async def jobs(self, forge: str) -> list[Record]:
        return await self._table.query(f"job-{forge}")

    # -- runner bindings ------------------------------------------------------------------------
    async def bind_job(self, forge: str, job_key: str, *, runner_name: str, runner_id: int) -> None:
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

    async def job_binding(self, forge: str, job_key: str) -> tuple[str, int] | None:
        """The runner name and id that took this job, if we saw it start."""
        record = await self._table.get(f"binding-{forge}", encode_key(job_key))
        if record is None or not record.data.get("runner_name"):
            return None
        return str(record.data["runner_name"]), int(record.data.get("runner_id") or 0)

    async def purge_bindings(self, forge: str, older_than: timedelta) -> int:
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

    async def mark_idle(self, runner_name: str, since: float) -> None:
        await self._table.upsert("idle", encode_key(runner_name), {"since": since})

    async def clear_idle(self, runner_name: str) -> None:
        await self._table.delete("idle", encode_key(runner_name))

    async def active_leases(self, forge: str, now: float) -> set[str]:
        """Runner names whose job is being provisioned right now (lease held and not expired)."""
        return {
            str(record.data.get("runner_name"))
            for record in await self.jobs(forge)
            if record.data.get("state") == "provisioning" and float(record.data.get("lease_until") or 0) > now
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

    async def drop_claim(self, forge: str, job_key: str, *, owner: str) -> None:
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
