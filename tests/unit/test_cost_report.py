"""`runner-fleet report`: per pool jobs, waits, VM-hours busy and idle, cost and cost per job."""

from __future__ import annotations

import asyncio
import io
import json
import time
from typing import Any

import pytest
from rich.console import Console

from runner_fleet import runtime
from runner_fleet.adapters.memory.queue import MemoryWorkQueue
from runner_fleet.adapters.memory.state import MemoryStateTable
from runner_fleet.cli import build_parser, main
from runner_fleet.cli.report import render
from runner_fleet.cost.report import TOTAL, build_report
from runner_fleet.percentile import percentile
from runner_fleet.settings import ServiceSettings
from runner_fleet.state.usage import Usage, UsageLog
from tests.builders import make_pool
from tests.fakes import FakeCompute, FakeRegistry

T0 = 1_796_032_800.0  # 2026-11-30 10:00:00 UTC
HOUR = 3600.0

POOL_KEYS = [
    "pool",
    "jobs",
    "runners",
    "wait_p50_s",
    "wait_p95_s",
    "waits",
    "vm_hours",
    "busy_hours",
    "idle_hours",
    "unsplit_hours",
    "cost",
    "currency",
    "costs",
    "cost_per_job",
    "unpriced_runners",
]


def usage(
    runner: str,
    pool: str = "aks-prod",
    *,
    job: str = "1",
    vm_s: float = HOUR,
    busy_s: float | None = None,
    wait_s: float | None = None,
    price: float | None = 0.2,
    currency: str = "USD",
    released_at: float = T0,
) -> Usage:
    started = None if busy_s is None else released_at - busy_s
    queued = None if wait_s is None or started is None else started - wait_s
    return Usage(
        runner=runner,
        pool=pool,
        forge="github",
        job=job,
        size="Standard_D2ads_v5",
        spot=False,
        location="westeurope",
        created_at=released_at - vm_s,
        released_at=released_at,
        queued_at=queued,
        started_at=started,
        cost=None if price is None else round(vm_s / HOUR * price, 6),
        currency=None if price is None else currency,
        price_per_hour=price,
        price_source="unknown" if price is None else "shipped",
    )


def test_percentile_is_the_nearest_rank() -> None:
    """p50 and p95 are values that occurred: the smallest that the share does not exceed."""
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.95) == 7.0
    values = [float(n) for n in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.95)) == (50.0, 95.0)
    assert percentile([3.0, 1.0, 2.0, 4.0], 0.5) == 2.0
    with pytest.raises(ValueError, match="share"):
        percentile([1.0], 0)


def test_a_pool_adds_up_its_jobs_time_and_cost() -> None:
    """Busy and idle split each VM's time; cost per job counts the idle runners' cost too."""
    rows = [
        usage("a", busy_s=1800, wait_s=60),
        usage("b", vm_s=2 * HOUR, busy_s=HOUR, wait_s=10),
        usage("w", job="", vm_s=HOUR),  # a warm runner retired without a job: all idle
    ]
    report = build_report(rows, since=T0 - 86400, until=T0 + 1, pools=["aks-prod"])
    [pool] = report.pools
    figures = pool.as_dict()
    assert list(figures) == POOL_KEYS
    assert figures | {"costs": None} == {
        "pool": "aks-prod",
        "jobs": 2,
        "runners": 3,
        "wait_p50_s": 10.0,
        "wait_p95_s": 60.0,
        "waits": 2,
        "vm_hours": 4.0,
        "busy_hours": 1.5,
        "idle_hours": 2.5,
        "unsplit_hours": 0.0,
        "cost": 0.8,
        "currency": "USD",
        "costs": None,
        "cost_per_job": 0.4,
        "unpriced_runners": 0,
    }
    assert figures["costs"] == {"USD": 0.8}


def test_pools_are_listed_in_configuration_order_then_totals() -> None:
    """Configured pools come first, even without rows; a pool only the rows name follows; totals sum all."""
    rows = [usage("a", "gone-pool", busy_s=600), usage("b", "aks-dev", busy_s=1200, wait_s=5)]
    report = build_report(rows, since=T0 - HOUR, until=T0 + 1, pools=["aks-prod", "aks-dev"])
    data = report.as_dict()
    assert [p["pool"] for p in data["pools"]] == ["aks-prod", "aks-dev", "gone-pool"]
    empty = data["pools"][0]
    assert (empty["jobs"], empty["cost"], empty["cost_per_job"], empty["wait_p50_s"]) == (0, 0.0, None, None)
    total = data["total"]
    assert total["pool"] == TOTAL and list(total) == POOL_KEYS
    assert (total["jobs"], total["runners"], total["vm_hours"], total["cost"]) == (2, 2, 2.0, 0.4)
    assert list(data) == ["since", "until", "pools", "total", "prices"]
    assert data["since"] == "2026-11-30T09:00:00+00:00"


def test_rows_outside_the_period_are_left_out() -> None:
    """Only VMs released in [since, until) count."""
    rows = [
        usage("old", released_at=T0 - 2 * HOUR),
        usage("in", released_at=T0),
        usage("late", released_at=T0 + 5),
    ]
    report = build_report(rows, since=T0 - HOUR, until=T0 + 5)
    assert report.total.runners == 1


def test_unknown_starts_and_prices_are_shown_apart_never_guessed() -> None:
    """A job whose start was not heard of is neither busy nor idle; an unpriced VM is counted apart."""
    rows = [usage("a", busy_s=None), usage("b", busy_s=HOUR, price=None)]
    figures = build_report(rows, since=T0 - HOUR, until=T0 + 1).total.as_dict()
    assert (figures["busy_hours"], figures["idle_hours"], figures["unsplit_hours"]) == (1.0, 0.0, 1.0)
    assert (figures["cost"], figures["unpriced_runners"], figures["cost_per_job"]) == (0.2, 1, 0.1)
    nothing = build_report([usage("c", price=None)], since=T0 - HOUR, until=T0 + 1).total.as_dict()
    assert (nothing["cost"], nothing["currency"], nothing["cost_per_job"]) == (None, None, None)


def test_currencies_are_never_summed_together() -> None:
    """Rows in two currencies give one sum each, and no single cost."""
    rows = [usage("a", price=0.2), usage("b", price=0.1, currency="EUR")]
    figures = build_report(rows, since=T0 - HOUR, until=T0 + 1).total.as_dict()
    assert (figures["cost"], figures["currency"], figures["costs"]) == (None, None, {"EUR": 0.1, "USD": 0.2})


def test_the_table_shows_each_pool_and_the_totals() -> None:
    """The rich table has a row per pool, a total row, and says where prices come from."""
    rows = [usage("a", busy_s=1800, wait_s=42), usage("b", "aks-dev", busy_s=None, price=None)]
    report = build_report(rows, since=T0 - HOUR, until=T0 + 1, pools=["aks-prod"], shipped_as_of="2025-01-01")
    out = io.StringIO()
    render(report, Console(file=out, width=120))
    text = out.getvalue()
    for expected in ("aks-prod", "aks-dev", "total", "42.0s", "0.2000 USD", "0.50", "2025-01-01"):
        assert expected in text
    assert "1 runner(s) without a price" in text
    assert "neither busy nor idle" in text


@pytest.mark.parametrize(("text", "seconds"), [("30m", 1800), ("24h", 86400), ("7d", 604800), ("90s", 90)])
def test_since_takes_minutes_hours_and_days(text: str, seconds: float) -> None:
    """--since accepts 30m, 24h, 7d; 24h is the default."""
    args = build_parser([]).parse_args(["report", "--since", text])
    assert args.since == seconds
    defaults: Any = build_parser([]).parse_args(["report"])
    assert (defaults.since, defaults.json, defaults.run) == (86400, False, "runner_fleet.cli.report:run")


@pytest.mark.parametrize("text", ["", "24", "h", "-1h", "0m", "3w", "400d", "nanh"])
def test_a_bad_since_is_a_usage_error(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Anything but a positive number of s, m, h or d (at most a year) exits 2 with a reason."""
    with pytest.raises(SystemExit) as exited:
        build_parser([]).parse_args(["report", "--since", text])
    assert exited.value.code == 2
    assert "--since" in capsys.readouterr().err


def test_report_json_reads_the_runtime_table(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`report --json` prints the report of the usage rows in the runtime's state table."""
    table = MemoryStateTable()
    now = time.time()
    asyncio.run(UsageLog(table).record(usage("r1", busy_s=600, wait_s=30, released_at=now - 60)))
    rt = runtime.Runtime(
        ServiceSettings(), (make_pool(),), MemoryWorkQueue(), table, FakeCompute, {"github": FakeRegistry}
    )
    monkeypatch.setattr(runtime, "_current", rt)
    assert main(["report", "--json", "--since", "1h"]) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    [pool] = data["pools"]
    assert (pool["pool"], pool["jobs"], pool["wait_p50_s"], pool["cost"]) == ("aks-prod", 1, 30.0, 0.2)
    assert data["prices"] == {"admin": False, "shipped_as_of": "2025-01-01"}
