"""Read bodies of the egress and private-link resources, with the fields Azure derives from other
resources computed from the store (so they can never disagree with them): a NAT gateway's and a
route table's `subnets`, a route table's `routes`, a firewall policy's `ruleCollectionGroups`,
`firewalls` and `childPolicies`, an IP group's users, and a registry's or vault's
`privateEndpointConnections` (one per private endpoint connecting to it)."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from typing import Any

from simulator.arm.ids import ResourceId
from simulator.arm.network import render_plain
from simulator.arm.store import (
    FIREWALL_POLICY_TYPE,
    FIREWALL_TYPE,
    PRIVATE_ENDPOINT_TYPE,
    ROUTE_TYPE,
    RULE_COLLECTION_GROUP_TYPE,
    SUBNET_TYPE,
    Resource,
    ResourceStore,
)


def _refs(resources: Iterator[Resource] | list[Resource]) -> list[dict[str, str]]:
    return [{"id": str(r.id)} for r in resources]


def _subnets_referencing(store: ResourceStore, resource: Resource, field: str) -> list[dict[str, str]]:
    return _refs(
        s
        for s in store.list(SUBNET_TYPE)
        if resource.id.same_as((s.properties.get(field) or {}).get("id") or "-")
    )


def render_nat_gateway(store: ResourceStore, nat: Resource) -> dict[str, Any]:
    body = render_plain(nat)
    subnets = _subnets_referencing(store, nat, "natGateway")
    if subnets:
        body["properties"]["subnets"] = subnets
    return body


def render_route(_: ResourceStore, route: Resource) -> dict[str, Any]:
    return render_plain(route)


def render_route_table(store: ResourceStore, table: Resource) -> dict[str, Any]:
    body = render_plain(table)
    props = body["properties"]
    props["routes"] = [render_route(store, r) for r in store.list(ROUTE_TYPE, parent=table.id)]
    subnets = _subnets_referencing(store, table, "routeTable")
    if subnets:
        props["subnets"] = subnets
    return body


def render_firewall_policy(store: ResourceStore, policy: Resource) -> dict[str, Any]:
    body = render_plain(policy)
    props = body["properties"]
    props["ruleCollectionGroups"] = _refs(store.list(RULE_COLLECTION_GROUP_TYPE, parent=policy.id))
    props["firewalls"] = _refs(
        f
        for f in store.list(FIREWALL_TYPE)
        if policy.id.same_as((f.properties.get("firewallPolicy") or {}).get("id") or "-")
    )
    props["childPolicies"] = _refs(
        p
        for p in store.list(FIREWALL_POLICY_TYPE)
        if policy.id.same_as((p.properties.get("basePolicy") or {}).get("id") or "-")
    )
    return body


def render_ip_group(store: ResourceStore, group: Resource) -> dict[str, Any]:
    """An IP group with the firewalls and policies whose rules name it."""
    body = render_plain(group)
    key = group.id.key

    def names_it(resource: Resource) -> bool:
        return key in str(resource.body).lower()

    policies = {
        str(r.id.parent): r.id.parent
        for r in store.list(RULE_COLLECTION_GROUP_TYPE)
        if r.id.parent is not None and names_it(r)
    }
    body["properties"]["firewalls"] = _refs(f for f in store.list(FIREWALL_TYPE) if names_it(f))
    body["properties"]["firewallPolicies"] = [{"id": p} for p in sorted(policies)]
    return body


def connections_to(store: ResourceStore, target: ResourceId) -> list[tuple[Resource, dict[str, Any]]]:
    """Every private endpoint connection (automatic or manual) whose privateLinkServiceId is `target`."""
    found = []
    for endpoint in store.list(PRIVATE_ENDPOINT_TYPE):
        props = endpoint.properties
        for connection in [
            *(props.get("privateLinkServiceConnections") or []),
            *(props.get("manualPrivateLinkServiceConnections") or []),
        ]:
            service = (connection.get("properties") or {}).get("privateLinkServiceId") or "-"
            if target.same_as(service):
                found.append((endpoint, connection))
    return found


def _connection_name(endpoint: Resource) -> str:
    return f"{endpoint.id.name}.{uuid.uuid5(uuid.NAMESPACE_URL, endpoint.id.key)}"


def _connection_properties(endpoint: Resource, connection: dict[str, Any]) -> dict[str, Any]:
    state = copy.deepcopy((connection.get("properties") or {}).get("privateLinkServiceConnectionState") or {})
    return {
        "privateEndpoint": {"id": str(endpoint.id)},
        "privateLinkServiceConnectionState": state,
        "provisioningState": "Succeeded",
    }


def render_registry(store: ResourceStore, registry: Resource) -> dict[str, Any]:
    body = render_plain(registry)
    body["properties"]["privateEndpointConnections"] = [
        {
            "id": str(registry.id.child("privateEndpointConnections", _connection_name(endpoint))),
            "name": _connection_name(endpoint),
            "type": "Microsoft.ContainerRegistry/registries/privateEndpointConnections",
            "properties": _connection_properties(endpoint, connection),
        }
        for endpoint, connection in connections_to(store, registry.id)
    ]
    return body


def render_vault(store: ResourceStore, vault: Resource) -> dict[str, Any]:
    body = render_plain(vault)
    body["properties"]["privateEndpointConnections"] = [
        {
            "id": str(vault.id.child("privateEndpointConnections", _connection_name(endpoint))),
            "etag": "",
            "properties": _connection_properties(endpoint, connection),
        }
        for endpoint, connection in connections_to(store, vault.id)
    ]
    return body
