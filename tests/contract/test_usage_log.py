"""UsageLog over the state table, run in memory and on Azure Tables (Azurite)."""

from __future__ import annotations

import asyncio
import dataclasses

from runner_fleet.state.table import StateTable
from runner_fleet.state.usage import PURGED, JobStart, Usage, UsageLog, day_partition

# 2026-11-30 10:00:00 UTC
T0 = 1_796_032_800.0
DAY = 86400.0
NAME = "rf-aks-prod-4f2a9c1b7e"


def usage(runner: str = NAME, *, released_at: float = T0, created_at: float | None = None) -> Usage:
    return Usage(
        runner=runner,
        pool="aks-prod",
        forge="github",
        job="4711",
        size="Standard_D2ads_v5",
        spot=False,
        location="westeurope",
        created_at=released_at - 600 if created_at is None else created_at,
        released_at=released_at,
        queued_at=released_at - 700,
        started_at=released_at - 500,
        cost=0.02,
        currency="USD",
        price_per_hour=0.12,
        price_source="shipped",
    )


async def test_a_usage_row_is_written_once_and_read_back_whole(state_table: StateTable) -> None:
    """The row lands in the release day's partition, every field intact; writing it again adds nothing."""
    log = UsageLog(state_table, clock=lambda: T0 + 60)
    row = usage()
    assert await log.record(row) is True
    assert await log.record(row) is False
    assert await log.since(T0 - 60) == [row]
    [stored] = await state_table.query(day_partition(T0))
    assert day_partition(T0) == "usage-20261130"
    assert stored.key == NAME
    assert stored.data["vm_seconds"] == 600.0 and stored.data["wait_s"] == 200.0
    assert stored.data["busy_seconds"] == 500.0 and stored.data["spot"] is False


async def test_concurrent_writes_of_one_vm_keep_one_row(state_table: StateTable) -> None:
    """Three releases of the same VM racing: one row."""
    log = UsageLog(state_table, clock=lambda: T0 + 60)
    written = await asyncio.gather(*(log.record(usage()) for _ in range(3)))
    assert sorted(written) == [False, False, True]
    assert len(await log.since(T0 - 60)) == 1


async def test_a_later_vm_of_the_same_name_gets_its_own_row(state_table: StateTable) -> None:
    """Same runner name, another VM (another creation time): two rows, the second keyed with its time."""
    log = UsageLog(state_table, clock=lambda: T0 + 3 * 3600)
    first, second = usage(), usage(released_at=T0 + 7200)
    assert await log.record(first) and await log.record(second)
    assert await log.record(second) is False
    keys = [record.key for record in await state_table.query(day_partition(T0))]
    assert keys == [NAME, f"{NAME}@{second.created_at:.0f}"]
    assert await log.since(T0 - 3600) == [first, second]


async def test_a_write_repeated_after_midnight_finds_the_row_of_the_day_before(
    state_table: StateTable,
) -> None:
    """The duplicate check looks at yesterday's partition too."""
    log = UsageLog(state_table, clock=lambda: T0 + DAY)
    late = usage(released_at=T0 + 13.9 * 3600)  # 23:54 UTC
    assert await log.record(late)
    assert await log.record(dataclasses.replace(late, released_at=T0 + 14.2 * 3600)) is False


async def test_since_reads_each_day_of_the_period_and_no_more(state_table: StateTable) -> None:
    """Rows of three days: `since` returns those released in the period, oldest first."""
    log = UsageLog(state_table, clock=lambda: T0 + 2 * DAY)
    rows = [usage(f"rf-aks-prod-{n:010d}", released_at=T0 + n * DAY / 2) for n in range(5)]
    for row in reversed(rows):
        await log.record(row)
    assert await log.since(T0 + DAY / 2) == rows[1:]
    assert await log.since(T0, until=T0 + DAY) == rows[:2]
    assert await log.since(T0 + 3 * DAY) == []


async def test_a_job_start_is_noted_once_and_forgotten(state_table: StateTable) -> None:
    """The first start noted stands; a start of another job replaces it; forgetting removes it."""
    log = UsageLog(state_table, clock=lambda: T0)
    await log.note_start("github", NAME, "4711", at=T0, queued_at=T0 - 42)
    await log.note_start("github", NAME, "4711", at=T0 + 30)
    assert await log.start_of("github", NAME) == JobStart("github", NAME, "4711", T0, T0 - 42)
    assert (await log.starts_since(T0 - 1))[0].wait_s == 42
    await log.note_start("github", NAME, "4712", at=T0 + 60)
    assert await log.start_of("github", NAME) == JobStart("github", NAME, "4712", T0 + 60, None)
    assert await log.start_of("gitlab", NAME) is None
    await log.forget_start("github", NAME)
    assert await log.start_of("github", NAME) is None


async def test_starts_since_lists_recent_starts_of_every_forge(state_table: StateTable) -> None:
    """Starts of both forges at or after the time asked, oldest first."""
    log = UsageLog(state_table, clock=lambda: T0)
    await log.note_start("github", "rf-a", "1", at=T0 - 100)
    await log.note_start("gitlab", "rf-b", "2", at=T0 - 10, queued_at=T0 - 15)
    await log.note_start("github", "rf-c", "3", at=T0 - 5)
    assert [(s.forge, s.runner) for s in await log.starts_since(T0 - 50)] == [
        ("gitlab", "rf-b"),
        ("github", "rf-c"),
    ]


async def test_purge_drops_whole_days_past_the_retention_and_old_starts(state_table: StateTable) -> None:
    """Days older than 35 go (each read once); newer ones stay; starts older than 7 days go."""
    clock = [T0]
    log = UsageLog(state_table, clock=lambda: clock[0])
    for age in (40, 36, 35, 1):
        await log.record(usage(f"rf-aks-prod-age{age:03d}", released_at=T0 - age * DAY))
    await log.note_start("github", "rf-old", "1", at=T0 - 8 * DAY)
    await log.note_start("github", "rf-new", "2", at=T0 - DAY)
    assert await log.purge() == 3
    left = [u.runner for u in await log.since(T0 - 50 * DAY)]
    assert left == ["rf-aks-prod-age035", "rf-aks-prod-age001"]
    assert [s.runner for s in await log.starts_since(0)] == ["rf-new"]
    marker = await state_table.get(PURGED, "through")
    assert marker is not None
    # An hour later nothing is left to purge, and no day's partition is read again.
    clock[0] += 3600
    assert await log.purge() == 0
    clock[0] += DAY
    assert await log.purge() == 1
    assert [u.runner for u in await log.since(T0 - 50 * DAY)] == ["rf-aks-prod-age001"]
