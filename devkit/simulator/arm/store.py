"""A generic resource store: JSON bodies keyed by lower-cased resource ID.

Every resource type the simulator knows (VMs, NICs, disks, VNets, subnets, and whatever is added
later) lives here, so listing, deleting with children and rendering IDs work the same for all.
"""

from __future__ import annotations

import copy
import itertools
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from simulator.arm.ids import ResourceId

# The resource types the simulator stores, as ARM spells them (the store compares them lower-cased).
VNET_TYPE = "Microsoft.Network/virtualNetworks"
SUBNET_TYPE = "Microsoft.Network/virtualNetworks/subnets"
PEERING_TYPE = "Microsoft.Network/virtualNetworks/virtualNetworkPeerings"
NIC_TYPE = "Microsoft.Network/networkInterfaces"
PIP_TYPE = "Microsoft.Network/publicIPAddresses"
NSG_TYPE = "Microsoft.Network/networkSecurityGroups"
ZONE_TYPE = "Microsoft.Network/privateDnsZones"
A_RECORD_TYPE = "Microsoft.Network/privateDnsZones/A"
LINK_TYPE = "Microsoft.Network/privateDnsZones/virtualNetworkLinks"
AKS_TYPE = "Microsoft.ContainerService/managedClusters"
NAT_GATEWAY_TYPE = "Microsoft.Network/natGateways"
ROUTE_TABLE_TYPE = "Microsoft.Network/routeTables"
ROUTE_TYPE = "Microsoft.Network/routeTables/routes"
FIREWALL_TYPE = "Microsoft.Network/azureFirewalls"
FIREWALL_POLICY_TYPE = "Microsoft.Network/firewallPolicies"
RULE_COLLECTION_GROUP_TYPE = "Microsoft.Network/firewallPolicies/ruleCollectionGroups"
IP_GROUP_TYPE = "Microsoft.Network/ipGroups"
PRIVATE_ENDPOINT_TYPE = "Microsoft.Network/privateEndpoints"
ZONE_GROUP_TYPE = "Microsoft.Network/privateEndpoints/privateDnsZoneGroups"
REGISTRY_TYPE = "Microsoft.ContainerRegistry/registries"
VAULT_TYPE = "Microsoft.KeyVault/vaults"


@dataclass
class Resource:
    id: ResourceId
    body: dict[str, Any]
    created_at: float
    updated_at: float
    etag: str
    seq: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def type(self) -> str:
        return self.id.type

    @property
    def properties(self) -> dict[str, Any]:
        props = self.body.setdefault("properties", {})
        assert isinstance(props, dict)
        return props


class ResourceStore:
    def __init__(self) -> None:
        self._items: dict[str, Resource] = {}
        self._seq = itertools.count(1)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Resource]:
        return iter(list(self._items.values()))

    def get(self, rid: ResourceId | str) -> Resource | None:
        return self._items.get(_key(rid))

    def put(self, rid: ResourceId, body: dict[str, Any]) -> Resource:
        """Create or replace; a replaced resource keeps its original ID casing and creation time."""
        now = time.time()
        existing = self._items.get(rid.key)
        body = copy.deepcopy(body)
        if existing is not None:
            existing.body = body
            existing.updated_at = now
            existing.etag = _new_etag()
            return existing
        resource = Resource(rid, body, now, now, _new_etag(), next(self._seq))
        self._items[rid.key] = resource
        return resource

    def touch(self, resource: Resource) -> None:
        resource.updated_at = time.time()
        resource.etag = _new_etag()

    def delete(self, rid: ResourceId | str) -> list[Resource]:
        """Remove a resource and its child resources; returns what was removed (parent first)."""
        key = _key(rid)
        removed = []
        if key in self._items:
            removed.append(self._items.pop(key))
        prefix = key + "/"
        for child_key in [k for k in self._items if k.startswith(prefix)]:
            removed.append(self._items.pop(child_key))
        return removed

    def list(
        self,
        type_name: str,
        *,
        subscription: str | None = None,
        resource_group: str | None = None,
        parent: ResourceId | None = None,
    ) -> list[Resource]:
        wanted = type_name.lower()
        found = []
        for resource in self._items.values():
            rid = resource.id
            if rid.type.lower() != wanted:
                continue
            if subscription is not None and rid.subscription.lower() != subscription.lower():
                continue
            if resource_group is not None and (rid.resource_group or "").lower() != resource_group.lower():
                continue
            if parent is not None and (rid.parent is None or rid.parent.key != parent.key):
                continue
            found.append(resource)
        found.sort(key=lambda r: r.seq)
        return found


def arm_body(rid: ResourceId, type_name: str, properties: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A resource as ARM shows every one: `name`, `id`, `type`, the `fields` given (location, tags,
    sku, ...) and `properties`."""
    return {"name": rid.name, "id": str(rid), "type": type_name, **fields, "properties": properties}


def _key(rid: ResourceId | str) -> str:
    return rid.key if isinstance(rid, ResourceId) else rid.lower().rstrip("/")


def _new_etag() -> str:
    return f'W/"{uuid.uuid4()}"'
