"""DemandLog over the state table, run in memory and on Azure Tables (Azurite)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from runner_fleet.settings.pool import WarmAuto
from runner_fleet.state.table import StateTable
from runner_fleet.warm.auto import Demand
from runner_fleet.warm.demand import ARRIVALS, COUNTERS, DemandLog

# 2026-11-30 10:00:00 UTC, a minute boundary.
T0 = 1_796_032_800.0
AUTO = WarmAuto(max=5, idle_budget_vm_hours_per_day=4, window_s=600)


async def test_a_job_is_counted_once_however_often_it_is_noted(state_table: StateTable) -> None:
    """Noting the same job again (a retried message) adds nothing; other jobs and pools count apart."""
    log = DemandLog(state_table, clock=lambda: T0)
    for _ in range(3):
        await log.note_arrival("aks-prod", "github/4711", T0 - 30)
    await log.note_arrival("aks-prod", "github/4712", T0 - 30)
    await log.note_arrival("aks-dev", "github/4711", T0 - 30)
    assert (await log.snapshot("aks-prod", AUTO, T0)).arrivals == 2
    assert (await log.snapshot("aks-dev", AUTO, T0)).arrivals == 1


async def test_the_snapshot_counts_the_window_and_its_bursts(state_table: StateTable) -> None:
    """Arrivals older than window_s are left out; burst_p90 is the busy minutes' 90th percentile."""
    log = DemandLog(state_table)
    await log.note_arrival("aks-prod", "old", T0 - 700)
    # Busy minutes of 1, 1, 1, 1 and one of 6 jobs, across the hour boundary at T0.
    for n, at in enumerate((T0 - 530, T0 - 400, T0 - 200, T0 - 61)):
        await log.note_arrival("aks-prod", f"single-{n}", at)
    for n in range(6):
        await log.note_arrival("aks-prod", f"matrix-{n}", T0 + 5)
    demand = await log.snapshot("aks-prod", AUTO, T0 + 10)
    assert demand == Demand(arrivals=10, window_s=600, cold_start_s=None, idle_vm_s_today=0.0, burst_p90=6)


async def test_concurrent_arrivals_are_all_counted(state_table: StateTable) -> None:
    """Twenty jobs noted at once in the same minute make a count of twenty."""
    log = DemandLog(state_table)
    await asyncio.gather(*(log.note_arrival("aks-prod", f"job-{n}", T0 - 10) for n in range(20)))
    demand = await log.snapshot("aks-prod", None, T0)
    assert (demand.arrivals, demand.burst_p90, demand.window_s) == (20, 20, 900)


async def test_cold_starts_give_the_median_of_the_recent_ones(state_table: StateTable) -> None:
    """The cold start is the median of the last 21 noted, so one slow create does not move it."""
    log = DemandLog(state_table)
    assert (await log.snapshot("aks-prod", AUTO, T0)).cold_start_s is None
    for n, seconds in enumerate([300.0] * 5 + [80.0] * 20 + [600.0]):
        await log.note_cold_start("aks-prod", seconds, T0 - 1000 + n)
    assert (await log.snapshot("aks-prod", AUTO, T0)).cold_start_s == 80.0
    with pytest.raises(ValueError, match="cannot be right"):
        await log.note_cold_start("aks-prod", float("nan"), T0)


async def test_idle_time_adds_up_per_utc_day_without_losing_concurrent_increments(
    state_table: StateTable,
) -> None:
    """Concurrent additions all count; yesterday's idle time is not today's."""
    log = DemandLog(state_table)
    await log.add_idle("aks-prod", 5000.0, T0 - 11 * 3600)  # 23:00 the day before
    await asyncio.gather(*(log.add_idle("aks-prod", 60.0, T0 - n) for n in range(15)))
    assert (await log.snapshot("aks-prod", AUTO, T0)).idle_vm_s_today == 900.0
    assert (await log.snapshot("aks-prod", AUTO, T0 - 11 * 3600)).idle_vm_s_today == 5000.0


async def test_purge_removes_rows_older_than_the_retention(state_table: StateTable) -> None:
    """Rows of days ago go; today's stay and are still counted."""
    clock = [T0 - 3 * 86400]
    log = DemandLog(state_table, clock=lambda: clock[0])
    await log.note_arrival("aks-prod", "old", clock[0])
    await log.add_idle("aks-prod", 100.0, clock[0])
    await log.note_cold_start("aks-prod", 70.0, clock[0])
    clock[0] = T0
    await log.note_arrival("aks-prod", "new", T0 - 5)
    await log.add_idle("aks-prod", 50.0, T0)
    assert await log.purge(timedelta(days=2)) == 4
    assert [r.key for r in await state_table.query(ARRIVALS)] == ["aks-prod|new"]
    assert len(await state_table.query(COUNTERS)) == 2
    demand = await log.snapshot("aks-prod", AUTO, T0)
    assert (demand.arrivals, demand.idle_vm_s_today, demand.cold_start_s) == (1, 50.0, None)
