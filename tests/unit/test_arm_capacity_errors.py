"""Which ARM refusals of a VM create send it to the next size or priority, and which surface."""

from __future__ import annotations

import pytest

from runner_fleet.adapters.azure.arm_errors import is_capacity_refusal, is_marked_for_deletion

QUOTA = (
    "Operation could not be completed as it results in exceeding approved standardDADSv5Family Cores "
    "quota. Additional details - Deployment Model: Resource Manager, Location: westeurope, Current Limit: "
    "10, Current Usage: 10, Additional Required: 2, (Minimum) New Limit Required: 12."
)
OLD_QUOTA = "Operation results in exceeding quota limits of Core. Maximum allowed: 4, Current in use: 4."
DELETING = (
    "Operation 'PUT' is not allowed on VM 'rf-x' since the VM is marked for deletion. You can only retry "
    "the Delete operation (or wait for an ongoing one to complete)."
)


@pytest.mark.parametrize(
    "code",
    [
        "AllocationFailed",
        "ZonalAllocationFailed",
        "OverconstrainedAllocationRequest",
        "OverconstrainedZonalAllocationRequest",
        "SkuNotAvailable",
        "QuotaExceeded",
    ],
)
def test_allocation_and_quota_codes_are_capacity(code: str) -> None:
    """Every documented allocation failure code is a capacity refusal, whatever its message."""
    assert is_capacity_refusal(code, "anything")


@pytest.mark.parametrize("message", [QUOTA, OLD_QUOTA])
def test_operation_not_allowed_about_quota_is_capacity(message: str) -> None:
    """OperationNotAllowed is a capacity refusal when its message is about exceeding a quota."""
    assert is_capacity_refusal("OperationNotAllowed", message)


@pytest.mark.parametrize(
    "message",
    [
        DELETING,
        "Operation 'start' is not allowed on VM 'x' since the VM is generalized.",
        "The maximum number of data disks allowed to be attached to a VM of this size is 4.",
    ],
)
def test_other_operation_not_allowed_is_a_hard_error(message: str) -> None:
    """Any other OperationNotAllowed would fail on every size: it is not a capacity refusal."""
    assert not is_capacity_refusal("OperationNotAllowed", message)


def test_a_vm_marked_for_deletion_is_recognised() -> None:
    """The 409 ARM answers to a PUT on a VM being deleted is recognised by code and message."""
    assert is_marked_for_deletion("OperationNotAllowed", DELETING)
    assert not is_marked_for_deletion("OperationNotAllowed", QUOTA)
    assert not is_marked_for_deletion("Conflict", DELETING)
