"""`runner-fleet report [--since 24h] [--json]`: per pool, the jobs, waits, VM time and cost of a period.

Read from the state table's usage rows (one per runner VM gone: `runner_fleet/state/usage.py`), with
the storage settings every command uses; the JSON's keys are in `runner_fleet/cost/report.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from rich.console import Console
from rich.table import Table

from runner_fleet import runtime
from runner_fleet.cost.report import PoolFigures, Report, build_report
from runner_fleet.state.usage import UsageLog


def run(args: argparse.Namespace) -> int:
    report = asyncio.run(collect(args.since))
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        render(report, Console())
    return 0


async def collect(since_s: float, now: float | None = None) -> Report:
    """The report of the `since_s` seconds up to `now`, from the runtime's state table."""
    rt = runtime.current()
    until = time.time() if now is None else now
    since = until - since_s
    try:
        rows = await UsageLog(rt.table).since(since, until)
    finally:
        await rt.aclose()
    return build_report(
        rows,
        since=since,
        until=until,
        pools=[pool.name for pool in rt.pools],
        admin_prices=rt.prices.admin is not None,
        shipped_as_of=rt.prices.shipped_table().as_of,
    )


def render(report: Report, console: Console) -> None:
    data = report.as_dict()
    table = Table(title=f"runner usage {data['since']} .. {data['until']}", title_justify="left")
    for column in ("pool", "jobs", "wait p50", "wait p95", "VM-h busy", "VM-h idle", "cost", "per job"):
        table.add_column(column, justify="left" if column == "pool" else "right")
    for figures in (*report.pools, report.total):
        row = figures.as_dict()
        style = "bold" if figures is report.total else None
        table.add_row(
            row["pool"],
            str(row["jobs"]),
            _seconds(row["wait_p50_s"]),
            _seconds(row["wait_p95_s"]),
            f"{row['busy_hours']:.2f}",
            f"{row['idle_hours']:.2f}",
            _money(figures),
            _per_job(figures),
            style=style,
            end_section=figures is report.pools[-1] if report.pools else False,
        )
    console.print(table)
    total = report.total
    if total.unsplit_s:
        console.print(
            f"{total.unsplit_s / 3600:.2f} VM-h of runners whose job start was not heard of are "
            "neither busy nor idle"
        )
    if total.unpriced:
        console.print(
            f"{total.unpriced} runner(s) without a price (size or region in no price table): not in the "
            "cost; set RUNNER_PRICES or RUNNER_PRICES_FILE"
        )
    prices = "your price table, then " if report.admin_prices else ""
    console.print(
        f"prices: {prices}the shipped table of {report.shipped_as_of} (approximate list prices, "
        "Linux, pay-as-you-go; spot estimated)"
    )


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def _money(figures: PoolFigures) -> str:
    if figures.runners == 0:
        return "-"
    if figures.costs and figures.cost is None:
        return " + ".join(
            f"{_amount(amount)} {currency}" for currency, amount in sorted(figures.costs.items())
        )
    if figures.cost is None:
        return "?"
    text = f"{_amount(figures.cost)} {figures.currency or ''}".rstrip()
    return text + ("+?" if figures.unpriced else "")


def _per_job(figures: PoolFigures) -> str:
    per_job = figures.cost_per_job
    if per_job is None:
        return "-"
    return _amount(per_job) + ("+?" if figures.unpriced else "")


def _amount(value: float) -> str:
    """Cents for sums of a unit or more; below that, enough digits to tell a job's cost apart."""
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.4f}"
