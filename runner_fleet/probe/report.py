"""What a probe changes in a pool's preflight report: the `custom-dns` warning becomes a verdict.

The preflight can only warn that custom DNS servers must forward the private zones to Azure DNS; it
cannot see whether they do. A probe VM asked them: when every name that must be private resolved to
a private address from the VM, the check passes; when one did not, it fails naming that name.
"""

from __future__ import annotations

from dataclasses import replace

from runner_fleet.ports.preflight import CheckResult, PreflightReport
from runner_fleet.preflight.checks.dns import CUSTOM_DNS
from runner_fleet.probe.run import ProbeOutcome


def settle_custom_dns(report: PreflightReport, outcome: ProbeOutcome) -> PreflightReport:
    """The report with its `custom-dns` warning replaced by what the probe found (unchanged when there
    is no such warning, or the probe reported no name that must resolve privately)."""
    checks = list(report.checks)
    index = next((i for i, c in enumerate(checks) if c.name == CUSTOM_DNS and c.status == "warn"), None)
    if index is None:
        return report
    heard = [v for v in outcome.verdicts if v.target.expect == "private" and v.result is not None]
    if not heard:
        return report
    warning = checks[index]
    unresolved = [v for v in heard if not v.resolved_privately]
    if unresolved:
        first, others = unresolved[0], [v.target.fqdn for v in unresolved[1:]]
        seen = first.result
        assert seen is not None
        found = (
            f"{first.target.fqdn} resolved to {seen.address}, a {seen.scope or 'non-private'} address,"
            if seen.address
            else f"{first.target.fqdn} did not resolve"
        )
        also = f" ({', '.join(others)} did not resolve privately either)" if others else ""
        checks[index] = CheckResult(
            CUSTOM_DNS,
            "fail",
            warning.resource,
            f"{found} from probe VM {outcome.vm}{also}: {warning.message}",
            warning.fix,
        )
    else:
        resolved = ", ".join(f"{v.target.fqdn} -> {v.result.address}" for v in heard if v.result)
        checks[index] = CheckResult(
            CUSTOM_DNS,
            "pass",
            warning.resource,
            f"the custom DNS servers answer the private zones: probe VM {outcome.vm} resolved {resolved}",
        )
    return replace(report, checks=tuple(checks))
