"""`subnet`: the runner subnet and its VNet exist. `subnet-capacity`: it has an address for every
runner the pools in it may run (Azure reserves 5 per subnet). `subnet-delegation`: it is not
delegated to a service (a VM NIC cannot join a delegated subnet)."""

from __future__ import annotations

import ipaddress
import math

from runner_fleet import naming
from runner_fleet.ports.preflight import CheckResult
from runner_fleet.preflight.checks.common import failed, passed, unreadable
from runner_fleet.preflight.ids import name_of
from runner_fleet.preflight.topology import PoolTopology, SubnetFacts

SUBNET = "subnet"
CAPACITY = "subnet-capacity"
DELEGATION = "subnet-delegation"
AZURE_RESERVED = 5


def check_exists(topology: PoolTopology) -> CheckResult | None:
    """None when the subnet and its VNet could be read; otherwise the one failure that explains it."""
    for found, what in ((topology.runner_vnet, "VNet"), (topology.subnet, "subnet")):
        if found.error is not None:
            return unreadable(SUBNET, found, f"runner {what}", role="Network Contributor or Reader")
        if found.value is None:
            return failed(
                SUBNET,
                found.resource,
                f"runner {what} {name_of(found.resource)} not found",
                "check azure.subnet_id (subscription, resource group, VNet and subnet names)",
            )
    return None


def usable_addresses(prefixes: tuple[str, ...]) -> int:
    return sum(max(0, ipaddress.ip_network(p, strict=False).num_addresses - AZURE_RESERVED) for p in prefixes)


def _others(subnet: SubnetFacts) -> int:
    """IP configurations of NICs that are not runner VMs (runners are bounded by max_runners already)."""
    count = 0
    for config_id in subnet.ip_configuration_ids:
        nic = config_id.split("/ipConfigurations/")[0].rsplit("/", 1)[-1]
        if naming.pool_of(nic.removesuffix("-nic")) is None:
            count += 1
    return count


def check_capacity(topology: PoolTopology) -> CheckResult | None:
    subnet = topology.subnet.value
    if subnet is None:
        return None
    usable = usable_addresses(subnet.address_prefixes)
    others = _others(subnet)
    free = usable - others
    demand = topology.subnet_demand
    prefixes = ", ".join(subnet.address_prefixes)
    who = (
        f"pools {', '.join(topology.subnet_pools)} may run {demand} runners in it"
        if len(topology.subnet_pools) > 1
        else f"the pool may run {demand} runners"
    )
    total = usable + AZURE_RESERVED * len(subnet.address_prefixes)
    if free >= demand:
        return passed(
            CAPACITY,
            subnet.id,
            f"{subnet.name} ({prefixes}): {free} addresses free for runners ({total} - "
            f"{AZURE_RESERVED} reserved - {others} in use); {who}",
        )
    needed = 32 - math.ceil(math.log2(demand + others + AZURE_RESERVED))
    return failed(
        CAPACITY,
        subnet.id,
        f"{subnet.name} ({prefixes}) has {max(free, 0)} free addresses ({total} - {AZURE_RESERVED} "
        f"reserved by Azure - {others} in use); {who}",
        f"use a /{needed} or larger subnet, or lower limits.max_runners to fit {max(free, 0)}",
    )


def check_delegation(topology: PoolTopology) -> CheckResult | None:
    subnet = topology.subnet.value
    if subnet is None:
        return None
    if subnet.delegations:
        return failed(
            DELEGATION,
            subnet.id,
            f"{subnet.name} is delegated to {', '.join(subnet.delegations)}: "
            "VM NICs cannot join a delegated subnet",
            "use a subnet without delegations for runners",
        )
    return passed(DELEGATION, subnet.id, f"{subnet.name} is not delegated")
