"""Reports as data: the stable JSON document `doctor --json` prints, and the keys logs compare."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runner_fleet.ports.preflight import CheckResult, PreflightReport

SCHEMA = "runner-fleet/doctor/v1"
STATUSES = ("pass", "warn", "fail")


def check_document(check: CheckResult) -> dict[str, str]:
    return {
        "name": check.name,
        "status": check.status,
        "resource": check.resource,
        "message": check.message,
        "fix": check.fix,
    }


def pool_document(report: PreflightReport) -> dict[str, Any]:
    return {
        "pool": report.pool,
        "ok": report.ok,
        "status": worst(report.checks),
        "checks": [check_document(c) for c in report.checks],
    }


def document(
    reports: Sequence[PreflightReport], fixes: Sequence[dict[str, str]] | None = None
) -> dict[str, Any]:
    """The whole `doctor --json` answer; keys always present and always in this order."""
    counts = dict.fromkeys(STATUSES, 0)
    for report in reports:
        for check in report.checks:
            counts[check.status] += 1
    return {
        "schema": SCHEMA,
        "ok": all(r.ok for r in reports),
        "summary": {"pools": len(reports), **counts},
        "pools": [pool_document(r) for r in reports],
        "fixes": list(fixes or []),
    }


def worst(checks: Sequence[CheckResult]) -> str:
    statuses = {c.status for c in checks}
    return next((s for s in ("fail", "warn") if s in statuses), "pass")


def problem_key(checks: Sequence[CheckResult]) -> frozenset[tuple[str, str, str]]:
    """What identifies a set of problems: the same failures found again are not news."""
    return frozenset((c.name, c.resource, c.status) for c in checks)
