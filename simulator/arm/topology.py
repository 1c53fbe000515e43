"""What exists before the service under test makes its first call: subscriptions, resource groups,
locations, and VNets with subnets (so subnet IDs in a VM PUT can be validated)."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000001"
DEFAULT_LOCATION = "westeurope"


@dataclass(frozen=True)
class SubnetSpec:
    name: str
    address_prefix: str


@dataclass(frozen=True)
class VNetSpec:
    resource_group: str
    name: str
    address_prefixes: tuple[str, ...]
    subnets: tuple[SubnetSpec, ...] = ()
    location: str | None = None  # None: the resource group's location


@dataclass(frozen=True)
class ResourceGroupSpec:
    name: str
    location: str


@dataclass(frozen=True)
class SubscriptionSpec:
    id: str
    resource_groups: tuple[ResourceGroupSpec, ...] = ()
    vnets: tuple[VNetSpec, ...] = ()
    display_name: str = "runner-fleet"


@dataclass(frozen=True)
class Topology:
    subscriptions: tuple[SubscriptionSpec, ...] = ()
    locations: tuple[str, ...] = (DEFAULT_LOCATION,)
    tenant_id: str = field(default="00000000-0000-0000-0000-0000000000aa")


def default_topology() -> Topology:
    """One subscription with `rg-runners` (holding `vnet-runners`/`snet-runners`) and `rg-aks`."""
    return Topology(
        subscriptions=(
            SubscriptionSpec(
                id=DEFAULT_SUBSCRIPTION_ID,
                resource_groups=(
                    ResourceGroupSpec("rg-runners", DEFAULT_LOCATION),
                    ResourceGroupSpec("rg-aks", DEFAULT_LOCATION),
                ),
                vnets=(
                    VNetSpec(
                        resource_group="rg-runners",
                        name="vnet-runners",
                        address_prefixes=("10.20.0.0/16",),
                        subnets=(SubnetSpec("snet-runners", "10.20.0.0/24"),),
                    ),
                ),
            ),
        ),
        locations=(DEFAULT_LOCATION,),
    )


def default_subnet_id() -> str:
    return (
        f"/subscriptions/{DEFAULT_SUBSCRIPTION_ID}/resourceGroups/rg-runners/providers/"
        "Microsoft.Network/virtualNetworks/vnet-runners/subnets/snet-runners"
    )
