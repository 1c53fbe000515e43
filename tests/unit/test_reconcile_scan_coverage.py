"""The reconcile report says how much of the forge the missed-job scan read, and what it left."""

from __future__ import annotations

from dataclasses import dataclass

from runner_fleet.adapters.memory.queue import MemoryWorkQueue
from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.ports.feeds import ScanCoverage, WaitingJob
from runner_fleet.settings.pool import Pool
from runner_fleet.state.store import FleetState
from runner_fleet.usecases.reconcile.reconciler import Reconciler
from tests.builders import make_pool
from tests.fakes import FakeCompute, FakeRegistry

POOL = make_pool("aks-prod")


@dataclass
class PartialFeed:
    """A feed that read 40 repositories and had to leave 25 for lack of budget."""

    async def waiting_jobs(self, pools: list[Pool]) -> list[WaitingJob]:
        return []

    async def redeliver_failed(self, since_s: float) -> int:
        return 0

    def last_coverage(self) -> ScanCoverage | None:
        return ScanCoverage(scanned=40, skipped=25, not_due=135)

    async def close(self) -> None:
        return None


async def test_the_report_counts_scanned_and_skipped_repositories() -> None:
    """A feed that reads part of the forge has its scanned and budget-skipped repositories reported."""
    reconciler = Reconciler(
        {POOL.name: POOL},
        FleetState(MemoryStateTable()),
        FakeCompute(),
        {"github": FakeRegistry()},
        MemoryWorkQueue(),
        feeds={"github": PartialFeed()},
    )
    report = await reconciler()
    assert (report.repositories_scanned, report.repositories_skipped) == (40, 25)
    assert report.as_dict()["repositories_skipped"] == 25
