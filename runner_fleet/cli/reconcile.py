"""`runner-fleet reconcile [--dry-run] [--json]`: one reconcile round, now, from this machine."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from rich.console import Console

from runner_fleet import logs, runtime
from runner_fleet.usecases.reconcile.reconciler import ReconcileReport


def run(args: argparse.Namespace) -> int:
    logs.configure("console", stream=sys.stderr)
    report = asyncio.run(_once(args.dry_run))
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        render(report, Console())
    found_wrong = report.marked or report.acted or report.jobs_enqueued or report.errors
    return 1 if found_wrong else 0


async def _once(dry_run: bool) -> ReconcileReport:
    rt = runtime.current()
    try:
        return await rt.reconciler()(dry_run=dry_run)
    finally:
        await rt.aclose()


def render(report: ReconcileReport, console: Console) -> None:
    mode = " (dry run: nothing changed)" if report.dry_run else ""
    console.print(f"reconcile{mode}: {report.runners_seen} runner(s) observed")
    for entry in report.marked:
        console.print(
            f"  suspect   {entry['runner']}: {entry['reason']} -> {entry['action']} next round if still so"
        )
    for entry in report.acted:
        console.print(f"  {entry.get('outcome', entry['action']):9} {entry['runner']}: {entry['reason']}")
    for name in report.recovered:
        console.print(f"  recovered {name}")
    for job in report.jobs_enqueued:
        console.print(f"  missed job {job}: enqueued for a runner")
    if report.redelivered:
        console.print(f"  redelivered {report.redelivered} failed webhook deliveries")
    for error in report.errors:
        console.print(f"  error     {error}")
    if not (report.marked or report.acted or report.recovered or report.jobs_enqueued or report.errors):
        console.print("  nothing to do")
