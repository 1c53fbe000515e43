"""`runner-fleet doctor`: the network preflight of every pool, as a table a person reads at a glance or JSON.

Exit codes: 0 when no check fails (warnings allowed), 1 when a check fails, 2 on bad usage (unknown
pool or scenario, invalid settings). `--fix` creates the private DNS zone links runner VNets are
missing (and nothing else), says exactly what it created, then checks again: the exit code is the
verdict after the fix. (With the devkit installed, `--simulate SCENARIO` runs it against the ARM
simulator: runner_fleet_dev.doctor.)

JSON (`--json`), stable: keys always present, in this order:

    {
      "schema": "runner-fleet/doctor/v1",
      "ok": bool,                          # no check failed in any pool
      "summary": {"pools": int, "pass": int, "warn": int, "fail": int},   # counts of checks
      "pools": [
        {"pool": str, "ok": bool, "status": "pass" | "warn" | "fail",      # the worst check
         "checks": [{"name": str, "status": "pass" | "warn" | "fail",
                     "resource": str, "message": str, "fix": str}]}      # fix is "" when passing
      ],
      "fixes": [                           # only with --fix; [] otherwise
        {"action": "create-dns-link", "outcome": "created" | "failed", "zone": str, "vnet": str,
         "link": str, "pools": str, "detail": str}
      ]
    }

Check names: cluster, subnet, peering, dns-link, dns-record, custom-dns, subnet-capacity,
subnet-delegation, nsg-inbound, nsg-outbound, nsg-isolation, location, vm-sizes, image (and
`preflight` when the preflight itself could not run); for GitLab pools, when GITLAB_URL and
GITLAB_TOKEN are set, gitlab-role (the token's user has the role that creating the pool's runners
needs); for GitHub pools, when GitHub credentials are set, github-runner-group (the pool's runner
group admits exactly the pool's repositories, public repositories only if the pool serves them, and
only the pool's allowed workflows if it names any).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from runner_fleet.forges import Forge
from runner_fleet.ports.forge_access import ForgeAccess
from runner_fleet.ports.preflight import CheckResult, PreflightReport
from runner_fleet.preflight.fix import FixOutcome, apply_link_fixes, plan_link_fixes
from runner_fleet.preflight.ids import name_of
from runner_fleet.preflight.reader import TopologyReader
from runner_fleet.preflight.report import document
from runner_fleet.preflight.run import Preflight, run_preflight
from runner_fleet.settings import Pool, load_pools, load_service_settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red"}


@dataclass
class Diagnosis:
    reports: list[PreflightReport]
    fixes: list[FixOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.reports)

    def document(self) -> dict[str, Any]:
        return document(self.reports, [f.document() for f in self.fixes])


async def diagnose(
    pools: Sequence[Pool],
    reader: TopologyReader,
    *,
    fix: bool = False,
    access: Mapping[Forge, ForgeAccess] | None = None,
    configured: Sequence[Pool] | None = None,
) -> Diagnosis:
    """Every pool's preflight, and what its forge credentials may do (`access`, per forge).

    `configured` is every pool of the service (default: `pools`): checks that concern a shared
    subnet (its capacity, what its NSG must let through) count all of them, not only those shown.
    With `fix`, the missing zone links are created and the pools checked again.
    """
    every = list(configured) if configured is not None else list(pools)
    runs: list[Preflight] = [await run_preflight(pool, reader, pools=every) for pool in pools]
    outcomes: list[FixOutcome] = []
    if fix:
        outcomes = await apply_link_fixes(reader, plan_link_fixes([r.topology for r in runs]))
        if any(o.created for o in outcomes):
            runs = [await run_preflight(pool, reader, pools=every) for pool in pools]
    reports = [r.report for r in runs]
    if access is not None:
        reports = [
            await _with_access(report, pool, access) for report, pool in zip(reports, pools, strict=True)
        ]
    return Diagnosis(reports, outcomes)


async def _with_access(
    report: PreflightReport, pool: Pool, access: Mapping[Forge, ForgeAccess]
) -> PreflightReport:
    checker = access.get(pool.forge)
    if checker is None:
        unchecked = _UNCHECKED.get(pool.forge)
        if unchecked is None:
            return report
        return PreflightReport(report.pool, (*report.checks, unchecked))
    try:
        found = await checker.check(pool)
    except Exception as exc:  # a forge that cannot be asked is a finding, not a crash
        found = [
            CheckResult(
                f"{pool.forge}-access",
                "fail",
                pool.forge,
                f"could not ask {pool.forge}: {type(exc).__name__}",
                fix="check the forge URL and token settings",
            )
        ]
    return PreflightReport(report.pool, (*report.checks, *found))


_UNCHECKED = {
    "gitlab": CheckResult(
        "gitlab-role",
        "warn",
        "GITLAB_URL",
        "the token's role was not checked: GITLAB_URL or GITLAB_TOKEN is not set",
        fix="set GITLAB_URL and GITLAB_TOKEN where doctor runs",
    ),
    "github": CheckResult(
        "github-runner-group",
        "warn",
        "GITHUB_APP_ID",
        "the runner group was not checked: no GitHub credentials are set",
        fix="set GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY (or GITHUB_TOKEN) where doctor runs",
    ),
}


def run(args: argparse.Namespace) -> int:
    settings = load_service_settings()
    configured = load_pools(settings, require_credentials=False)
    pools = selected(configured, args.pool)
    if pools is None:
        return EXIT_USAGE
    from runner_fleet.preflight.factory import azure_reader_factory
    from runner_fleet.runtime import forge_access

    access = forge_access(settings, {pool.forge for pool in pools})
    diagnosis = diagnose_with(azure_reader_factory(settings), pools, args.fix, access, configured)
    return finish(args, asyncio.run(diagnosis))


async def diagnose_with(
    build: Callable[[], TopologyReader],
    pools: Sequence[Pool],
    fix: bool,
    access: Mapping[Forge, ForgeAccess] | None = None,
    configured: Sequence[Pool] | None = None,
) -> Diagnosis:
    reader = build()
    try:
        return await diagnose(pools, reader, fix=fix, access=access, configured=configured)
    finally:
        await reader.close()
        for checker in (access or {}).values():
            await checker.close()


def selected(pools: Sequence[Pool], name: str | None) -> list[Pool] | None:
    if name is None:
        return list(pools)
    chosen = [p for p in pools if p.name == name]
    if not chosen:
        print(
            f"runner-fleet: no pool named {name!r} (pools: {', '.join(p.name for p in pools)})",
            file=sys.stderr,
        )
        return None
    return chosen


def finish(args: argparse.Namespace, diagnosis: Diagnosis) -> int:
    if args.json:
        print(json.dumps(diagnosis.document(), indent=2))
    else:
        render(diagnosis, make_console())
    return EXIT_OK if diagnosis.ok else EXIT_FAILED


def make_console() -> Console:
    # Rich sizes to the terminal; piped, it uses $COLUMNS or 80 and writes no colour codes.
    return Console()


def render(diagnosis: Diagnosis, console: Console) -> None:
    for outcome in diagnosis.fixes:
        mark = "[green]fixed[/]" if outcome.created else "[bold red]not fixed[/]"
        console.print(f"{mark}: {outcome.sentence()}")
    if diagnosis.fixes:
        console.print()
    for report in diagnosis.reports:
        console.print(_pool_table(report))
        console.print()
    failing = [r.pool for r in diagnosis.reports if not r.ok]
    total = len(diagnosis.reports)
    if failing:
        console.print(
            f"[bold red]{len(failing)} of {total} pool(s) fail the preflight[/] ({', '.join(failing)}): "
            "no runner VM is created for them until the checks above pass."
        )
    else:
        console.print(f"[green]all {total} pool(s) pass the preflight[/]")


def _pool_table(report: PreflightReport) -> Table:
    counts = {s: sum(c.status == s for c in report.checks) for s in ("pass", "warn", "fail")}
    verdict = "ok" if report.ok else "FAILS"
    title = Text.assemble(
        (f"pool {report.pool}: ", "bold"),
        (verdict, "green" if report.ok else "bold red"),
        f"  ({counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail)",
    )
    table = Table(
        title=title, title_justify="left", box=None, show_header=False, pad_edge=False, expand=False
    )
    table.add_column(no_wrap=True, width=4)
    table.add_column(no_wrap=True, style="bold")
    table.add_column(overflow="fold", ratio=1)
    for check in report.checks:
        table.add_row(Text(check.status.upper(), style=_STYLE[check.status]), check.name, _details(check))
    return table


def _details(check: CheckResult) -> Text:
    if check.status == "pass":  # one line each, so the problems stand out
        return Text(check.message, no_wrap=True, overflow="ellipsis")
    text = Text(check.message)
    text.append("\nfix: ", style="bold")
    text.append(check.fix)
    text.append(f"\non: {name_of(check.resource)}", style="dim")
    return text
