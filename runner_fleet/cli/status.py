"""`runner-fleet status [--watch [--interval S]] [--json]`: the fleet at a glance, one row per pool.

Read from Azure (VMs by tag), the forges (registrations, waiting jobs) and the state table (leases,
job starts, usage rows), never from the service's memory; what each figure means is in
`runner_fleet/usecases/fleet_status.py`. Each reading is one scan of each forge's waiting jobs and
one dry-run reconcile round (nothing is changed or sent); the preflight of each pool goes through
the gates the provisioner uses, which keep a pool's report a few minutes (a failing one a minute).

`--watch` reads again every `--interval` seconds (default 15, at least 5) and redraws in place until
Ctrl-C; the forges' scans keep their conditional requests and their share of the request budget
from one reading to the next. With `--json` it prints one document a line per reading instead.

Exit codes: 0, or 1 when a pool fails its preflight (as `doctor`); with `--watch`, those of the last
reading; 2 on bad usage or settings.

JSON (`--json`), stable: keys always present, in this order:

    {
      "schema": "runner-fleet/status/v1",
      "at": str,                         # the time of the reading, ISO 8601 UTC
      "ok": bool,                        # no pool fails its preflight
      "pools": [
        {"pool": str, "forge": "github" | "gitlab",
         "waiting": int | null,          # jobs waiting on the forge that the pool serves (null:
                                         #   its forge's scan did not answer)
         "oldest_wait_s": float | null,  # how long the oldest of them has waited
         "runners": {"creating": int, "booting": int, "idle": int, "busy": int, "retiring": int},
         "max_runners": int,
         "warm": {"target": int, "mode": "static" | "schedule" | "auto"},   # the target in force
         "wait_p50_s": float | null, "wait_p95_s": float | null,            # queued -> running of
         "waits": int,                   #   the jobs started in the last hour (nearest rank)
         "cost_today": float | null,     # VMs released since 00:00 UTC (null: mixed currencies or
         "currency": str | null,         #   none priced); currency of cost_today
         "costs_today": {str: float},    # currency -> cost, every currency
         "released_today": int,          # runner VMs released today
         "unpriced_today": int,          # of which without a price (not in the cost)
         "preflight": {"status": "pass" | "warn" | "fail",
                       "failing": [str], "warnings": [str]} | null}          # check names
      ],
      "total": {"waiting": int | null, "runners": {...}, "warm_target": int,
                "wait_p50_s", "wait_p95_s", "waits", "cost_today", "currency", "costs_today",
                "released_today", "unpriced_today",             # as per pool, over every pool
                "pools_failing": int},
      "scan": {"repositories_scanned": int,   # repositories (projects) the forges' scans read
               "repositories_skipped": int},  # due, but left for a later reading (request budget)
      "errors": [str]                    # what could not be read (e.g. "github feed: RateLimited")
    }

With `--watch --json`, a reading that failed as a whole (Resource Manager unreachable, say) prints
`{"error": str, "at": str}` (the exception's name and the time) on its line instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from runner_fleet import logs, runtime
from runner_fleet.cost.report import PoolFigures
from runner_fleet.percentile import percentile
from runner_fleet.ports.preflight import PreflightGate
from runner_fleet.state.usage import UsageLog
from runner_fleet.telemetry.metrics import RUNNER_STATES
from runner_fleet.usecases.fleet_status import FleetStatus, PoolStatus, Verdict, read_fleet_status

_VERDICT_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red"}
# While watching, next to nothing is logged: the display shows what could not be read.
_WATCHING_LOG_LEVEL = logging.CRITICAL


def run(args: argparse.Namespace) -> int:
    logs.configure("console", stream=sys.stderr, level=_WATCHING_LOG_LEVEL if args.watch else logging.ERROR)
    console = Console()
    if args.watch:
        return watch(console, interval_s=args.interval, as_json=args.json)
    status = asyncio.run(_once())
    if args.json:
        print(json.dumps(status.as_dict(), indent=2))
    else:
        console.print(render(status, width=console.width))
    return status.exit_code


async def read(rt: runtime.Runtime) -> FleetStatus:
    """One reading of the fleet through the runtime's adapters (the caller closes the runtime)."""
    gates: list[PreflightGate] = [gate for gate in (rt.preflight, rt.forge_gate) if gate is not None]
    return await read_fleet_status(rt.pools, rt.reconciler(), UsageLog(rt.table), gates)


async def _once() -> FleetStatus:
    rt = runtime.current()
    try:
        return await read(rt)
    finally:
        await rt.aclose()


def watch(
    console: Console,
    *,
    interval_s: float,
    as_json: bool,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> int:
    """Read every `interval_s` seconds until Ctrl-C; the exit code of the last reading."""
    last: list[FleetStatus] = []
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_watch(console, interval_s, as_json, last, sleep or _pause))
    return last[-1].exit_code if last else 0


async def _pause(seconds: float) -> None:
    await asyncio.sleep(seconds)


async def _watch(
    console: Console,
    interval_s: float,
    as_json: bool,
    last: list[FleetStatus],
    sleep: Callable[[float], Awaitable[None]],
) -> None:
    rt = runtime.current()
    live: Live | None = None
    if not as_json and console.is_terminal:
        live = Live(Text("reading the fleet ..."), console=console, auto_refresh=False)
        live.start()
    try:
        while True:
            started = time.monotonic()
            try:
                last.append(await read(rt))
                del last[:-1]
                view = render(last[-1], interval_s=interval_s, width=console.width)
            except Exception as exc:  # a reading that failed (a dropped connection): try again
                failed = Text(
                    f"reading failed at {_clock(time.time())}: {type(exc).__name__}; "
                    f"trying again in {interval_s:g}s",
                    style="bold red",
                )
                view = (
                    Group(render(last[-1], interval_s=interval_s, width=console.width), failed)
                    if last
                    else failed
                )
                if as_json:
                    print(json.dumps({"error": type(exc).__name__, "at": _iso(time.time())}), flush=True)
            else:
                if as_json:
                    print(json.dumps(last[-1].as_dict()), flush=True)
            if live is not None:
                live.update(view, refresh=True)
            elif not as_json:
                console.print(view)
            await sleep(max(0.0, interval_s - (time.monotonic() - started)))
    finally:
        if live is not None:
            live.stop()
        await rt.aclose()


# Column headers, wide and narrow (a terminal too narrow for the wide ones: 80 columns, say).
_WIDE = {"states": RUNNER_STATES, "wait": "wait p50/p95", "cost": "cost today"}
_NARROW = {"states": ("creat", "boot", "idle", "busy", "retir"), "wait": "p50/p95", "cost": "cost"}


def render(
    status: FleetStatus, *, interval_s: float | None = None, width: int | None = None
) -> RenderableType:
    """The table, and under it the time of the reading and anything that could not be read.

    Within `width` if it can: columns two apart, else one apart, else with short headers.
    """
    candidates = [_table(status, narrow=False, gap=2)]
    if width is not None:
        candidates += [_table(status, narrow=False, gap=1), _table(status, narrow=True, gap=1)]
    widths = [_natural_width(table) for table in candidates]
    fitting = [
        table for table, natural in zip(candidates, widths, strict=True) if width is None or natural <= width
    ]
    table = fitting[0] if fitting else candidates[widths.index(min(widths))]
    return Group(table, Text(), Text(_footer(status, interval_s), style="dim"), *_notes(status))


def _table(status: FleetStatus, *, narrow: bool, gap: int) -> Table:
    headers = _NARROW if narrow else _WIDE
    # One currency for the whole fleet: said once, under the table, when narrow.
    currency = status.total_today().currency if narrow else None
    table = Table(
        title="runner-fleet status",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1) if gap == 2 else (0, 0),
        collapse_padding=True,
    )
    table.add_column("pool", no_wrap=True)
    table.add_column("preflight", no_wrap=True, overflow="ellipsis", max_width=13 if narrow else 18)
    table.add_column("waiting", justify="right", no_wrap=True)
    for header in headers["states"]:
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("warm", justify="right", no_wrap=True)
    table.add_column(str(headers["wait"]), justify="right", no_wrap=True)
    table.add_column(str(headers["cost"]), justify="right", no_wrap=True)
    for pool in status.pools:
        table.add_row(
            pool.pool,
            _verdict(pool.preflight),
            _waiting(pool.waiting, pool.oldest_wait_s),
            *(_count(pool.runners.get(state, 0), state) for state in RUNNER_STATES),
            _warm(pool),
            _percentiles(pool.waits),
            _money(pool.today, currency),
            end_section=pool is status.pools[-1],
        )
    runners = status.total_runners()
    table.add_row(
        Text("total", style="bold"),
        _failing(status),
        _waiting(status.total_waiting(), None),
        *(_count(runners[state], state) for state in RUNNER_STATES),
        str(sum(pool.warm_target for pool in status.pools)),
        _percentiles(status.total_waits()),
        _money(status.total_today(), currency),
    )
    return table


def _natural_width(table: Table) -> int:
    return Console(file=io.StringIO(), width=10_000).measure(table).maximum


def _notes(status: FleetStatus) -> list[Text]:
    """Under the table: each pool's failing and warning checks, and what could not be read."""
    notes = []
    for pool in status.pools:
        verdict = pool.preflight
        if verdict is None or verdict.status == "pass":
            continue
        found = [
            f"{word}: {', '.join(names)}"
            for word, names in (("fails", verdict.failing), ("warns", verdict.warnings))
            if names
        ]
        text = f"{pool.pool}: preflight {'; '.join(found)} (runner-fleet doctor --pool {pool.pool})"
        notes.append(Text(text, style=_VERDICT_STYLE[verdict.status]))
    if status.skipped:
        text = f"waiting: {status.skipped} repositories left for a later reading (forge request budget)"
        notes.append(Text(text, style="yellow"))
    notes += [Text(f"could not read: {error}", style="red") for error in status.errors]
    return notes


def _footer(status: FleetStatus, interval_s: float | None) -> str:
    runners = sum(status.total_runners().values())
    text = f"read {_clock(status.at)} UTC: {len(status.pools)} pool(s), {runners} runner(s)"
    if interval_s is not None:
        text += f"; again every {interval_s:g}s, Ctrl-C to stop"
    currency = status.total_today().currency
    cost = f"cost ({currency})" if currency else "cost"
    return text + (
        f"\nwait: queued -> running, jobs started in the last hour; {cost}: runner VMs released today (UTC)"
    )


def _failing(status: FleetStatus) -> Text:
    if all(pool.preflight is None for pool in status.pools):
        return Text("-", style="dim")
    failing = sum(1 for pool in status.pools if pool.fails)
    return Text(f"{failing} fail", style="bold red" if failing else "green")


def _waiting(count: int | None, oldest_s: float | None) -> Text:
    if count is None:
        return Text("?", style="red")
    if count == 0:
        return Text("0", style="dim")
    oldest = f" ({_duration(oldest_s, precise=False)})" if oldest_s is not None else ""
    return Text(f"{count}{oldest}", style="yellow")


def _count(count: int, state: str) -> Text:
    if count == 0:
        return Text("0", style="dim")
    return Text(str(count), style="bold" if state == "busy" else "")


def _warm(pool: PoolStatus) -> Text:
    text = Text(str(pool.warm_target))
    if pool.warm_mode != "static":
        text.append(" cron" if pool.warm_mode == "schedule" else f" {pool.warm_mode}", style="dim")
    return text


def _verdict(verdict: Verdict | None) -> Text:
    if verdict is None:
        return Text("-", style="dim")
    # The first check that fails (or warns) and how many more: the lines under the table name them all.
    names: Sequence[str] = verdict.failing or verdict.warnings
    more = f" +{len(names) - 1}" if len(names) > 1 else ""
    shown = f"{verdict.status.upper()} {names[0]}{more}" if names else verdict.status.upper()
    return Text(shown, style=_VERDICT_STYLE[verdict.status])


def _percentiles(waits: Sequence[float]) -> str:
    p50, p95 = percentile(waits, 0.5), percentile(waits, 0.95)
    if p50 is None or p95 is None:
        return "-"
    return f"{_duration(p50)}/{_duration(p95)}"


def _duration(seconds: float, *, precise: bool = True) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s" if precise else f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"


def _money(figures: PoolFigures, said: str | None = None) -> str:
    """The cost, with its currency unless it is `said` once for the whole table (under it)."""
    if figures.runners == 0:
        return "-"
    if figures.cost is None:
        if not figures.costs:
            return "?"
        return " + ".join(f"{amount:.4f} {currency}" for currency, amount in sorted(figures.costs.items()))
    amount = f"{figures.cost:.2f}" if figures.cost >= 1 else f"{figures.cost:.4f}"
    currency = "" if figures.currency == said else f" {figures.currency or ''}"
    return f"{amount}{currency}".rstrip() + ("+?" if figures.unpriced else "")


def _clock(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")
