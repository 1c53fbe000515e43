"""Job records: written only on the version just read, `done` final, and purged once no longer needed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.runtime import ABANDONED_JOB_RETENTION, JOB_RETENTION
from runner_fleet.state.store import FleetState
from runner_fleet.state.table import Record

DAY = 86400.0


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


class InterferingTable(MemoryStateTable):
    """Runs `meanwhile` once, right after the first read of a job record (`get`) or partition (`query`):
    another worker writing between a read and the write that follows it."""

    def __init__(self) -> None:
        super().__init__()
        self.meanwhile: Callable[[], Awaitable[object]] | None = None

    async def _interfere(self) -> None:
        action, self.meanwhile = self.meanwhile, None
        if action is not None:
            await action()

    async def get(self, partition: str, key: str) -> Record | None:
        record = await super().get(partition, key)
        await self._interfere()
        return record

    async def query(self, partition: str) -> list[Record]:
        records = await super().query(partition)
        await self._interfere()
        return records


def _state() -> tuple[FleetState, InterferingTable, Clock]:
    table, clock = InterferingTable(), Clock()
    return FleetState(table, clock=clock), table, clock


async def _state_of(state: FleetState, job: str) -> object:
    record = await state.job("github", job)
    return None if record is None else record.data.get("state")


async def _claim(state: FleetState, job: str, *, owner: str = "m1", lease_s: float = 900) -> None:
    claim = await state.claim_job(
        "github", job, runner_name=f"rf-p-{job}", pool="p", owner=owner, lease_s=lease_s
    )
    assert claim.granted


async def test_mark_job_does_not_overwrite_a_settle_made_after_it_read_the_record() -> None:
    """A job settled between mark_job's read and its write stays done: the provision does not revive it."""
    state, table, clock = _state()
    await _claim(state, "7")
    other_worker = FleetState(table, clock=clock)
    table.meanwhile = lambda: other_worker.settle_job("github", "7")

    await state.mark_job("github", "7", "provisioned", vm="rf-p-7")

    assert await _state_of(state, "7") == "done"


async def test_mark_job_keeps_a_change_made_after_it_read_the_record() -> None:
    """A lease taken over between mark_job's read and its write is kept; the new state goes on top."""
    state, table, clock = _state()
    await _claim(state, "7", owner="m1", lease_s=-1)  # its lease has run out
    other_worker = FleetState(table, clock=clock)
    table.meanwhile = lambda: other_worker.claim_job(
        "github", "7", runner_name="rf-p-7", pool="p", owner="m2", lease_s=900
    )

    await state.mark_job("github", "7", "provisioned", vm="rf-p-7")

    record = await state.job("github", "7")
    assert record is not None
    assert (record.data["state"], record.data["owner"], record.data["vm"]) == ("provisioned", "m2", "rf-p-7")
    assert record.data["lease_until"] == clock() + 900


async def test_a_settled_job_is_never_moved_back() -> None:
    """Once done, no later mark (provisioned, provisioning, reaped) changes the job's state."""
    state, _, _ = _state()
    await _claim(state, "7")
    await state.settle_job("github", "7")
    for later in ("provisioned", "provisioning", "reaped"):
        await state.mark_job("github", "7", later)
    await state.reopen_job("github", "7")
    assert await _state_of(state, "7") == "done"


async def test_reopen_leaves_a_job_settled_after_it_read_the_record() -> None:
    """A job settled between reopen_job's read and its write is not reopened (it would be served twice)."""
    state, table, clock = _state()
    await _claim(state, "7")
    await state.mark_job("github", "7", "provisioned", vm="rf-p-7")
    other_worker = FleetState(table, clock=clock)
    table.meanwhile = lambda: other_worker.settle_job("github", "7")

    await state.reopen_job("github", "7")

    assert await _state_of(state, "7") == "done"


async def test_reopen_reaps_a_provisioned_job_and_ignores_an_unknown_one() -> None:
    """reopen_job marks a provisioned job reaped; a job without a record gets none."""
    state, _, _ = _state()
    await _claim(state, "7")
    await state.mark_job("github", "7", "provisioned")
    await state.reopen_job("github", "7")
    await state.reopen_job("github", "8")
    assert (await _state_of(state, "7"), await state.job("github", "8")) == ("reaped", None)


async def _purge(state: FleetState) -> int:
    return await state.purge_jobs("github", finished_for=JOB_RETENTION, abandoned_for=ABANDONED_JOB_RETENTION)


async def test_finished_job_records_go_after_the_retention_and_not_before() -> None:
    """A done record is kept for JOB_RETENTION after it was settled, and purged once that has passed."""
    state, _, clock = _state()
    await state.settle_job("github", "old")
    clock.t += DAY
    await state.settle_job("github", "new")
    clock.t += JOB_RETENTION.total_seconds() - DAY + 1

    assert await _purge(state) == 1
    assert [record.key for record in await state.jobs("github")] == ["new"]
    clock.t += DAY
    assert await _purge(state) == 1
    assert await state.jobs("github") == []


async def test_unsettled_job_records_go_only_after_the_abandoned_retention() -> None:
    """A record in any other state is kept until ABANDONED_JOB_RETENTION after its last write or lease."""
    state, _, clock = _state()
    assert ABANDONED_JOB_RETENTION > JOB_RETENTION
    await _claim(state, "provisioned")
    await state.mark_job("github", "provisioned", "provisioned")
    await _claim(state, "reaped")
    await state.reopen_job("github", "reaped")
    await _claim(state, "leased", lease_s=ABANDONED_JOB_RETENTION.total_seconds() + DAY)

    clock.t += ABANDONED_JOB_RETENTION.total_seconds() - 1
    assert await _purge(state) == 0
    clock.t += 2
    assert await _purge(state) == 2
    assert [record.key for record in await state.jobs("github")] == ["leased"]  # its lease still runs


async def test_a_record_written_while_the_purge_runs_is_kept() -> None:
    """A finished record settled again between the purge's read and its delete is not deleted."""
    state, table, clock = _state()
    await state.settle_job("github", "7")
    clock.t += JOB_RETENTION.total_seconds() + 1
    table.meanwhile = lambda: state.settle_job("github", "7")  # a duplicate `completed`, just now

    assert await state.purge_jobs("github", finished_for=JOB_RETENTION, abandoned_for=timedelta(days=7)) == 0
    assert await _state_of(state, "7") == "done"


async def test_active_leases_name_only_live_provisions() -> None:
    """active_leases lists the runners of jobs being provisioned under a lease that has not run out."""
    state, _, _ = _state()
    await _claim(state, "live")
    await _claim(state, "expired", lease_s=-1)
    await _claim(state, "made")
    await state.mark_job("github", "made", "provisioned")
    await state.settle_job("github", "finished")
    assert await state.active_leases("github", Clock()()) == {"rf-p-live"}
