"""Injected failures: request-level rules (status + ARM code, or a held request that times out) and
operation-level rules (a create LRO that later reports Failed, e.g. AllocationFailed)."""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

_ids = itertools.count(1)

DEFAULT_MESSAGES = {
    "AllocationFailed": (
        "Allocation failed. We do not have sufficient capacity for the requested VM size in this region. "
        "Read more about improving likelihood of allocation success at http://aka.ms/allocation-guidance"
    ),
    "ZonalAllocationFailed": (
        "Allocation failed. We do not have sufficient capacity for the requested VM size in this zone. "
        "Read more about improving likelihood of allocation success at http://aka.ms/allocation-guidance"
    ),
    "OverconstrainedAllocationRequest": (
        "Allocation failed. VM(s) with the following constraints cannot be allocated, because the "
        "condition is too restrictive. Please remove some constraints and try again. Constraints "
        "applied are: - VM Size"
    ),
    "OverconstrainedZonalAllocationRequest": (
        "Allocation failed. VM(s) with the following constraints cannot be allocated, because the "
        "condition is too restrictive. Please remove some constraints and try again. Constraints "
        "applied are: - Availability Zone - VM Size"
    ),
    "OperationNotAllowed": (
        "Operation could not be completed as it results in exceeding approved {family} Cores quota. "
        "Additional details - Deployment Model: Resource Manager, Location: {location}, "
        "Current Limit: 0, Current Usage: 0, Additional Required: {vcpus}, "
        "(Minimum) New Limit Required: {vcpus}."
    ),
    "InternalServerError": "An internal server error occurred. Please try again.",
    "ServiceUnavailable": "The service is temporarily unavailable. Please try again.",
    "TooManyRequests": "The request is being throttled. Please try again later.",
    "Conflict": "The operation conflicts with another operation in progress.",
    "GatewayTimeout": (
        "The gateway did not receive a response from 'Microsoft.Compute' within the specified time period."
    ),
}


def _new_id() -> str:
    return f"fault-{next(_ids)}"


@dataclass
class _Budget:
    """How often a rule fires: `count` matching requests (None: unlimited), each with `probability`."""

    probability: float | None = None
    count: int | None = None

    def take(self, rng: random.Random) -> bool:
        if self.count is not None and self.count <= 0:
            return False
        if self.probability is not None and rng.random() >= self.probability:
            return False
        if self.count is not None:
            self.count -= 1
        return True

    @property
    def spent(self) -> bool:
        return self.count is not None and self.count <= 0


@dataclass
class FaultRule(_Budget):
    """Fail matching ARM requests. `path` is a regex searched (case-insensitively) in the URL path."""

    path: str = ".*"
    method: str | None = None
    status: int = 500
    code: str = "InternalServerError"
    message: str | None = None
    action: Literal["error", "timeout"] = "error"
    hold_s: float = 0.0  # simulated seconds the request is held before the answer (or the drop)
    close_connection: bool = False  # timeout action: drop the connection instead of answering 504
    retry_after_s: float | None = None
    id: str = field(default_factory=_new_id)

    def __post_init__(self) -> None:
        re.compile(self.path)  # reject a bad pattern when the rule is added, not when it is hit
        if self.action not in ("error", "timeout"):
            raise ValueError(f"unknown fault action {self.action!r}")

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return re.search(self.path, path, re.IGNORECASE) is not None

    def text(self) -> str:
        return self.message or DEFAULT_MESSAGES.get(self.code, f"Injected failure {self.code}.")

    def describe(self) -> dict[str, Any]:
        return {"kind": "request", **asdict(self)}


@dataclass
class LroFailureRule(_Budget):
    """Make matching VM creations fail. With `synchronous` the PUT itself is rejected (nothing is
    created); otherwise the create operation reports Failed after `after_s` (default: at the end of
    provisioning) and the VM is left in provisioningState Failed, as Azure does."""

    code: str = "AllocationFailed"
    message: str | None = None
    size: str | None = None
    priority: str | None = None  # "Spot" / "Regular"; None matches both
    location: str | None = None
    synchronous: bool = False
    status: int = 409  # HTTP status of a synchronous rejection
    after_s: float | None = None
    id: str = field(default_factory=_new_id)

    def matches(self, *, size: str, priority: str, location: str) -> bool:
        if self.size is not None and self.size.lower() != size.lower():
            return False
        if self.priority is not None and self.priority.lower() != priority.lower():
            return False
        return self.location is None or self.location.lower() == location.lower()

    def text(self, *, size: str, family: str, location: str, vcpus: int, priority: str) -> str:
        if self.message:
            return self.message
        if self.code == "OperationNotAllowed":
            quota = "LowPriorityCores" if priority.lower() == "spot" else family
            return DEFAULT_MESSAGES["OperationNotAllowed"].format(
                family=quota, location=location, vcpus=vcpus
            )
        return DEFAULT_MESSAGES.get(self.code, f"The VM '{size}' could not be provisioned ({self.code}).")

    def describe(self) -> dict[str, Any]:
        return {"kind": "lro", **asdict(self)}


def rule_from_json(data: Mapping[str, Any]) -> FaultRule | LroFailureRule:
    """Build a rule from the control API's JSON (`kind`: "request" (default) or "lro")."""
    fields = dict(data)
    kind = fields.pop("kind", "request")
    fields.pop("id", None)
    if kind == "request":
        return FaultRule(**fields)
    if kind == "lro":
        return LroFailureRule(**fields)
    raise ValueError(f"unknown fault kind {kind!r}")
