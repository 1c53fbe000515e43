"""What the preflight needs from Azure, as a port: reads that return facts, and one write (a zone link).

A read returns None when the resource does not exist and raises `ReadError` when it cannot be
read (no permission, throttled past retries, the service failing): the check then says which.
"""

from __future__ import annotations

from typing import Protocol

from runner_fleet.preflight.topology import (
    AksFacts,
    ImageFacts,
    NsgFacts,
    SizeOffer,
    SubnetFacts,
    VNetFacts,
    ZoneFacts,
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
