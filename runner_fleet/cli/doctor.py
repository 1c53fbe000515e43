"""`runner-fleet doctor`: the network preflight of every pool, as a table a person reads at a glance or JSON.

Exit codes: 0 when no check fails (warnings allowed), 1 when a check fails, 2 on bad usage (unknown
pool or scenario, invalid settings). `--fix` creates the private DNS zone links runner VNets are
missing (and nothing else), says exactly what it created, then checks again: the exit code is the
verdict after the fix. (With the devkit installed, `--simulate SCENARIO` runs it against the ARM
simulator: runner_fleet_dev.doctor.)

`--probe` then boots one VM per pool in its runner subnet (the pool's image and first size, no
secret, no runner) that resolves and connects (TCP, TLS) to the API server, every private endpoint
name and the forge's essential hosts, reports on its serial console, and is deleted, always: also
on a failure, a timeout (`--probe-timeout`, default 600 s) and Ctrl-C or SIGTERM (exit 130 / 143,
once Azure accepted the delete; a second Ctrl-C stops that wait). A probe VM left behind (SIGKILL)
carries `kind=probe` and `expires-at` tags: the reconciler and the pool's next probe delete it once
that has passed. Any failing target, or a probe that could not run, exits 1; with a probe, the
`custom-dns` warning becomes a pass or a fail naming the name that did not resolve privately.

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
      ],
      "probes": [                          # only with --probe; [] otherwise
        {"pool": str, "ok": bool,          # the probe finished and every target passed
         "ending": "done" | "timeout" | "not-created" | "failed" | "error",
         "message": str,                   # why it did not finish ("" when done)
         "vm": str, "size": str,
         "deleted": "accepted" | "absent" | "failed",   # absent: no VM was made
         "reaped": [str],                  # expired probe VMs of the pool deleted first
         "seconds": float,
         "targets": [{"target": "api-server" | "endpoint" | "forge", "name": str, "fqdn": str,
                      "port": int, "expect": "private" | "any", "status": "pass" | "fail",
                      "address": str | null, "scope": "private" | "public" | null,
                      "connect_ms": float | null, "tls": "ok" | "failed" | null, "message": str}]}
      ]
    }

With `--probe`, "ok" also needs every probe to be ok.

Check names: cluster, subnet, peering, dns-link (one per zone: the cluster's, extra ones, and the
zones of the pool's private endpoints), dns-record, custom-dns, subnet-capacity, subnet-delegation,
nsg-inbound, nsg-outbound, nsg-isolation, egress (the subnet's way out to the forge's hosts: NAT
gateway, default outbound access, or the rules of the Azure Firewall its route leads to),
private-endpoint (one per entry of the pool's private_endpoints), location, vm-sizes, image (and
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
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from rich.console import Console
from rich.table import Table
from rich.text import Text

from runner_fleet.forges import Forge
from runner_fleet.ports.compute import ProbeCompute
from runner_fleet.ports.forge_access import ForgeAccess
from runner_fleet.ports.preflight import CheckResult, PreflightReport
from runner_fleet.preflight.fix import FixOutcome, apply_link_fixes, plan_link_fixes
from runner_fleet.preflight.ids import name_of
from runner_fleet.preflight.reader import TopologyReader
from runner_fleet.preflight.report import document
from runner_fleet.preflight.run import Preflight, run_preflight
from runner_fleet.probe.report import settle_custom_dns
from runner_fleet.probe.run import PoolProbe, ProbeLedger, ProbeOutcome, Progress
from runner_fleet.probe.targets import probe_targets
from runner_fleet.probe.vm import DEFAULT_TIMEOUT_S
from runner_fleet.settings import Pool, ServiceSettings, load_pools, load_service_settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143
_STYLE = {"pass": "green", "warn": "yellow", "fail": "bold red"}
T = TypeVar("T")


@dataclass
class Diagnosis:
    reports: list[PreflightReport]
    fixes: list[FixOutcome] = field(default_factory=list)
    probes: list[ProbeOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.reports) and all(p.ok for p in self.probes)

    def document(self) -> dict[str, Any]:
        found = document(self.reports, [f.document() for f in self.fixes])
        found["ok"] = self.ok
        found["probes"] = [p.document() for p in self.probes]
        return found


@dataclass(frozen=True)
class ProbeSetup:
    """What `--probe` needs: where VMs are made, the forge settings (its hosts), how long to wait."""

    compute: Callable[[], ProbeCompute]
    settings: ServiceSettings
    timeout_s: float = DEFAULT_TIMEOUT_S
    poll_s: float = 5.0
    ledger: ProbeLedger = field(default_factory=ProbeLedger)
    progress: Progress | None = None


def probe_compute_factory(
    settings: ServiceSettings, *, credential: Callable[[], Any] | None = None, polling_interval_s: float = 5.0
) -> Callable[[], ProbeCompute]:
    """The service's own Azure compute adapter, which also reads serial consoles."""
    from runner_fleet.runtime import azure_compute_factory

    return azure_compute_factory(settings, credential=credential, polling_interval_s=polling_interval_s)


async def diagnose(
    pools: Sequence[Pool],
    reader: TopologyReader,
    *,
    settings: ServiceSettings,
    fix: bool = False,
    access: Mapping[Forge, ForgeAccess] | None = None,
    configured: Sequence[Pool] | None = None,
    probe: ProbeSetup | None = None,
) -> Diagnosis:
    """Every pool's preflight, and what its forge credentials may do (`access`, per forge).

    `settings`: the service's, whose forge URLs name the hosts the way out must allow.

    `configured` is every pool of the service (default: `pools`): checks that concern a shared
    subnet (its capacity, what its NSG must let through) count all of them, not only those shown.
    With `fix`, the missing zone links are created and the pools checked again. With `probe`, each
    pool's probe VM runs after its checks (all pools at once), and settles its `custom-dns` warning.
    """
    every = list(configured) if configured is not None else list(pools)
    runs: list[Preflight] = [
        await run_preflight(pool, reader, pools=every, settings=settings) for pool in pools
    ]
    outcomes: list[FixOutcome] = []
    if fix:
        outcomes = await apply_link_fixes(reader, plan_link_fixes([r.topology for r in runs]))
        if any(o.created for o in outcomes):
            runs = [await run_preflight(pool, reader, pools=every, settings=settings) for pool in pools]
    reports = [r.report for r in runs]
    if access is not None:
        reports = [
            await _with_access(report, pool, access) for report, pool in zip(reports, pools, strict=True)
        ]
    probes: list[ProbeOutcome] = []
    if probe is not None:
        probes = await probe_pools(pools, runs, probe)
        reports = [settle_custom_dns(r, o) for r, o in zip(reports, probes, strict=True)]
    return Diagnosis(reports, outcomes, probes)


async def probe_pools(
    pools: Sequence[Pool], runs: Sequence[Preflight], setup: ProbeSetup
) -> list[ProbeOutcome]:
    """Each pool's probe, at once; every probe VM is deleted before this returns or raises."""
    from runner_fleet.sshkey import unusable_public_key

    compute = setup.compute()
    try:
        prober = PoolProbe(
            compute,
            unusable_public_key(),
            timeout_s=setup.timeout_s,
            poll_s=setup.poll_s,
            ledger=setup.ledger,
            progress=setup.progress,
        )
        found = await asyncio.gather(
            *(
                prober(pool, probe_targets(pool, setup.settings, run.topology, run.report.endpoints))
                for pool, run in zip(pools, runs, strict=True)
            ),
            return_exceptions=True,
        )
    finally:
        await compute.close()
    outcomes = []
    for pool, item in zip(pools, found, strict=True):
        if isinstance(item, BaseException) and not isinstance(item, Exception):
            raise item
        outcomes.append(item if isinstance(item, ProbeOutcome) else _could_not_probe(pool, item))
    return outcomes


def _could_not_probe(pool: Pool, exc: BaseException) -> ProbeOutcome:
    return ProbeOutcome(
        pool=pool.name,
        vm="",
        size=pool.azure.vm_sizes[0],
        ending="error",
        message=f"the probe could not run: {type(exc).__name__}: {exc}"[:300],
        verdicts=(),
        deleted="absent",
    )


async def _with_access(
    report: PreflightReport, pool: Pool, access: Mapping[Forge, ForgeAccess]
) -> PreflightReport:
    checker = access.get(pool.forge)
    if checker is None:
        unchecked = _UNCHECKED.get(pool.forge)
        if unchecked is None:
            return report
        return replace(report, checks=(*report.checks, unchecked))
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
    return replace(report, checks=(*report.checks, *found))


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
    probe = probe_setup(args, probe_compute_factory(settings), settings)
    reader = azure_reader_factory(settings)
    diagnosis = diagnose_with(reader, pools, args.fix, access, configured, settings=settings, probe=probe)
    return complete(args, diagnosis, probe)


def probe_setup(
    args: argparse.Namespace,
    compute: Callable[[], ProbeCompute],
    settings: ServiceSettings,
    *,
    poll_s: float = 5.0,
) -> ProbeSetup | None:
    if not getattr(args, "probe", False):
        return None
    from runner_fleet import logs

    # Only what goes wrong, on stderr: stdout is the report (and --json must stay JSON).
    logs.configure("console", stream=sys.stderr, level=logging.WARNING)
    progress = None if args.json else _progress_printer()
    timeout = float(getattr(args, "probe_timeout", DEFAULT_TIMEOUT_S))
    return ProbeSetup(compute, settings, timeout_s=timeout, poll_s=poll_s, progress=progress)


def _progress_printer() -> Progress:
    console = Console(stderr=True, highlight=False)

    def say(pool: str, what: str) -> None:
        console.print(Text(f"probe {pool}: {what}", style="dim"))

    return say


def complete(args: argparse.Namespace, work: Coroutine[Any, Any, Diagnosis], probe: ProbeSetup | None) -> int:
    """Run the diagnosis; with probes, Ctrl-C and SIGTERM end it only after every probe VM's delete."""
    if probe is None:
        return finish(args, asyncio.run(work))
    try:
        diagnosis = asyncio.run(until_terminated(work))
    except KeyboardInterrupt:
        _say_interrupted("interrupted", probe.ledger)
        return EXIT_INTERRUPTED
    except Terminated:
        _say_interrupted("terminated", probe.ledger)
        return EXIT_TERMINATED
    return finish(args, diagnosis)


class Terminated(Exception):
    """SIGTERM arrived: the work was cancelled, and what it made was deleted, before this was raised."""


async def until_terminated(work: Awaitable[T]) -> T:
    """`work`, with SIGTERM cancelling it as Ctrl-C does (Python's default would end the process at
    once, leaving probe VMs behind)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    hit = False

    def on_term() -> None:
        nonlocal hit
        hit = True
        if task is not None:
            task.cancel()

    try:
        loop.add_signal_handler(signal.SIGTERM, on_term)
        installed = True
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no Unix signals
        installed = False
    try:
        return await work
    except asyncio.CancelledError:
        if hit:
            raise Terminated from None
        raise
    finally:
        if installed:
            loop.remove_signal_handler(signal.SIGTERM)


def _say_interrupted(how: str, ledger: ProbeLedger) -> None:
    print(f"runner-fleet: {how}", file=sys.stderr)
    for name, state in ledger.vms.items():
        print(f"runner-fleet: probe VM {name}: {state}", file=sys.stderr)


async def diagnose_with(
    build: Callable[[], TopologyReader],
    pools: Sequence[Pool],
    fix: bool,
    access: Mapping[Forge, ForgeAccess] | None = None,
    configured: Sequence[Pool] | None = None,
    *,
    settings: ServiceSettings,
    probe: ProbeSetup | None = None,
) -> Diagnosis:
    reader = build()
    try:
        return await diagnose(
            pools, reader, settings=settings, fix=fix, access=access, configured=configured, probe=probe
        )
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
    probes = {outcome.pool: outcome for outcome in diagnosis.probes}
    for report in diagnosis.reports:
        console.print(_pool_table(report))
        probe = probes.get(report.pool)
        if probe is not None:
            console.print(_probe_table(probe))
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
    if diagnosis.probes:
        probe_failing = [p.pool for p in diagnosis.probes if not p.ok]
        if probe_failing:
            console.print(
                f"[bold red]{len(probe_failing)} of {len(diagnosis.probes)} probe(s) fail[/] "
                f"({', '.join(probe_failing)}): a runner VM there could not reach what it needs."
            )
        else:
            console.print(f"[green]all {len(diagnosis.probes)} probe(s) pass[/]")


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


_DELETED = {
    "accepted": "VM deleted",
    "absent": "no VM was left",
    "failed": "VM NOT deleted",
}


def _probe_table(outcome: ProbeOutcome) -> Table:
    """The probe under its pool's checks: one row per target, its name over what the VM saw."""
    passed = sum(v.status == "pass" for v in outcome.verdicts)
    title = Text.assemble(
        ("probe ", "bold"),
        (outcome.vm or "(no VM)", "bold"),
        f" ({outcome.size}, {outcome.seconds:.0f} s): ",
        (
            f"{passed} of {len(outcome.verdicts)} targets pass"
            if outcome.ending == "done"
            else outcome.ending.upper(),
            "green" if outcome.ok else "bold red",
        ),
        (f"; {_DELETED[outcome.deleted]}", "bold red" if outcome.deleted == "failed" else ""),
    )
    table = Table(
        title=title, title_justify="left", box=None, show_header=False, pad_edge=False, expand=False
    )
    table.add_column(no_wrap=True, width=4)
    table.add_column(no_wrap=True, style="bold")
    table.add_column(overflow="fold", ratio=1)
    for verdict in outcome.verdicts:
        text = Text(verdict.target.fqdn)
        if verdict.target.name not in (verdict.target.fqdn, verdict.target.target):
            text.append(f" ({verdict.target.name})", style="dim")
        text.append(f"\n{verdict.summary}", style="" if verdict.status == "pass" else "bold")
        table.add_row(Text(verdict.status.upper(), style=_STYLE[verdict.status]), verdict.target.target, text)
    if outcome.message:
        table.add_row(Text("", style=""), "", Text(outcome.message, style="bold red"))
    return table
