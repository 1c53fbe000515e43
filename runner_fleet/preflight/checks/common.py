"""What every check shares: result constructors and the wording for what could not be read."""

from __future__ import annotations

from typing import Any

from runner_fleet.ports.preflight import CheckResult
from runner_fleet.preflight.ids import name_of
from runner_fleet.preflight.topology import Lookup


def passed(name: str, resource: str, message: str) -> CheckResult:
    return CheckResult(name, "pass", resource, message)


def warned(name: str, resource: str, message: str, fix: str) -> CheckResult:
    return CheckResult(name, "warn", resource, message, fix)


def failed(name: str, resource: str, message: str, fix: str) -> CheckResult:
    return CheckResult(name, "fail", resource, message, fix)


def unreadable(name: str, found: Lookup[Any], what: str, role: str = "Reader") -> CheckResult:
    """A lookup that failed for another reason than "not found": usually a missing role assignment."""
    return failed(
        name,
        found.resource,
        f"cannot read {what} {name_of(found.resource)}: {found.error}",
        f"grant the provisioner's identity {role} on {name_of(found.resource)} (or its resource group)",
    )
