"""An Azure Resource Manager simulator (Compute VMs with inline NICs, network reads, resource SKUs,
long-running operations, throttling, faults) that plays the runner inside each VM it boots."""

from simulator.arm.config import (
    ArmConfig,
    BucketSpec,
    NeverBoot,
    ThrottleConfig,
    Timing,
    VmSize,
    default_sizes,
)
from simulator.arm.faults import FaultRule, LroFailureRule
from simulator.arm.simulator import ArmSimulator
from simulator.arm.topology import (
    DEFAULT_SUBSCRIPTION_ID,
    ResourceGroupSpec,
    SubnetSpec,
    SubscriptionSpec,
    Topology,
    VNetSpec,
    default_subnet_id,
    default_topology,
)

__all__ = [
    "DEFAULT_SUBSCRIPTION_ID",
    "ArmConfig",
    "ArmSimulator",
    "BucketSpec",
    "FaultRule",
    "LroFailureRule",
    "NeverBoot",
    "ResourceGroupSpec",
    "SubnetSpec",
    "SubscriptionSpec",
    "ThrottleConfig",
    "Timing",
    "Topology",
    "VNetSpec",
    "VmSize",
    "default_sizes",
    "default_subnet_id",
    "default_topology",
]
