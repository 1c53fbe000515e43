"""What an ARM error from a VM create means for runner-fleet, from its code and message.

Only a refusal for capacity or quota may send the create to another size or priority: anything else
(a bad request, a policy, a VM being deleted) would fail the same way on every size and must surface.
"""

from __future__ import annotations

import re
from typing import Any

from azure.core.exceptions import HttpResponseError

# The allocation failures Azure documents for VM creates (troubleshoot allocation failures; the AKS
# "ZonalAllocationFailed, AllocationFailed or OverconstrainedAllocationRequest" article) and the zonal
# variant of the last one; SkuNotAvailable is a size the subscription may not use in the region now.
ALLOCATION_CODES = frozenset(
    {
        "AllocationFailed",
        "ZonalAllocationFailed",
        "OverconstrainedAllocationRequest",
        "OverconstrainedZonalAllocationRequest",
        "SkuNotAvailable",
    }
)
QUOTA_CODES = frozenset({"QuotaExceeded"})
# Compute reports an exhausted vCPU quota as OperationNotAllowed ("Operation could not be completed
# as it results in exceeding approved <family> Cores quota", older: "Operation results in exceeding
# quota limits of Core"); the same code also covers many refusals that have nothing to do with quota.
_QUOTA_MESSAGE = re.compile(r"exceeding\b.*\bquota", re.IGNORECASE | re.DOTALL)
_MARKED_FOR_DELETION = re.compile(r"marked for deletion", re.IGNORECASE)


def is_capacity_refusal(code: str, message: str) -> bool:
    if code in ALLOCATION_CODES or code in QUOTA_CODES:
        return True
    return code == "OperationNotAllowed" and _QUOTA_MESSAGE.search(message) is not None


def is_marked_for_deletion(code: str, message: str) -> bool:
    """ARM refusing an operation on a VM whose delete is under way (409 OperationNotAllowed)."""
    return code == "OperationNotAllowed" and _MARKED_FOR_DELETION.search(message) is not None


def error_code(exc: HttpResponseError) -> str:
    return str(getattr(_error(exc), "code", None) or "")


def error_message(exc: HttpResponseError) -> str:
    return str(getattr(_error(exc), "message", None) or exc.reason or "")


def capacity_error(exc: HttpResponseError) -> tuple[str, str] | None:
    """(code, message) of the capacity refusal in `exc` or in one of its details, else None."""
    error = _error(exc)
    candidates = [error, *(getattr(error, "details", None) or [])]
    for candidate in candidates:
        code = str(getattr(candidate, "code", None) or "")
        message = str(getattr(candidate, "message", None) or "")
        if is_capacity_refusal(code, message):
            return code, message
    return None


def _error(exc: HttpResponseError) -> Any:
    return getattr(exc, "error", None)
