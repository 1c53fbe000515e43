"""What the preflight needs from Azure, as a port: reads that return facts, and one write (a zone link).

A read returns None when the resource does not exist and raises `ReadError` when it cannot be
read (no permission, throttled past retries, the service failing): the check then says which.
"""

from __future__ import annotations

from typing import Protocol

from runner_fleet.preflight.topology import (
    AksFacts,
    FirewallFacts,
    FirewallPolicyFacts,
    ImageFacts,
    NatGatewayFacts,
    NsgFacts,
    PrivateEndpointFacts,
    RouteTableFacts,
    SizeOffer,
    SubnetFacts,
    VNetFacts,
    ZoneFacts,
    ZoneGroupFacts,
    ZoneLinkFacts,
)


class ReadError(Exception):
    """A resource could not be read; the message says why in Azure's terms (status and error code)."""


class TransientReadError(ReadError):
    """A read failed for a passing reason (throttled, server error, dropped connection): worth retrying."""


class TopologyReader(Protocol):
    async def vnet(self, vnet_id: str) -> VNetFacts | None: ...

    async def subnet(self, subnet_id: str) -> SubnetFacts | None: ...

    async def nsg(self, nsg_id: str) -> NsgFacts | None: ...

    async def vnets_in(self, subscription: str, resource_group: str) -> list[str]:
        """IDs of the VNets in a resource group (an AKS-managed VNet lives in the node resource group)."""

    async def route_table(self, route_table_id: str) -> RouteTableFacts | None: ...

    async def nat_gateway(self, nat_gateway_id: str) -> NatGatewayFacts | None: ...

    async def firewalls(self, subscription: str) -> list[FirewallFacts]:
        """Every Azure Firewall of a subscription, as the resource shows it: its private addresses
        (hubIPAddresses included), its policy ID, and its classic rule collections."""

    async def firewall_policy(self, policy_id: str) -> FirewallPolicyFacts | None:
        """A firewall policy with the rules of all its rule collection groups (level 0)."""

    async def ip_group(self, ip_group_id: str) -> tuple[str, ...] | None:
        """An IP group's addresses (prefixes, ranges or single addresses)."""

    async def private_endpoint(self, endpoint_id: str) -> PrivateEndpointFacts | None:
        """A private endpoint, without its zone groups (`zone_groups` None)."""

    async def private_endpoints_in(self, subscription: str) -> list[PrivateEndpointFacts]:
        """Every private endpoint of a subscription, without zone groups."""

    async def zone_groups(self, endpoint_id: str) -> tuple[ZoneGroupFacts, ...]:
        """A private endpoint's private DNS zone groups."""

    async def zone(self, zone_id: str) -> ZoneFacts | None: ...

    async def zones_in(self, subscription: str, resource_group: str) -> list[str]:
        """IDs of the private DNS zones in a resource group (AKS keeps its `system` zone there)."""

    async def a_record(self, zone_id: str, relative_name: str) -> tuple[str, ...] | None: ...

    async def cluster(self, cluster_id: str) -> AksFacts | None: ...

    async def vm_sizes(self, subscription: str, location: str) -> dict[str, SizeOffer]:
        """VM sizes listed for the location, by lower-cased name, with any restriction."""

    async def image(self, subscription: str, location: str, reference: str) -> ImageFacts: ...

    async def create_link(self, zone_id: str, vnet_id: str, name: str) -> ZoneLinkFacts:
        """Create a virtual network link (never replacing an existing one) and wait until it is done."""

    async def close(self) -> None: ...
