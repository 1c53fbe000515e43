"""Seed the egress and private-link resources of a `SubscriptionSpec` with the bodies the network API
2024-05-01 returns: NAT gateways (their public IPs and prefixes referenced), route tables with their routes
as children, IP groups, firewall policies with their rule collection groups as children, Azure
Firewalls (policy or classic rules), container registries, key vaults, and
private endpoints with the NIC Azure makes for each and their zone group `default`, whose A records
are written into the private DNS zones as Azure keeps them.

Derived fields (a NAT gateway's or route table's `subnets`, a policy's `firewalls`, a registry's
`privateEndpointConnections`) are not stored: `simulator.arm.network_render` computes them.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Callable
from typing import Any

from simulator.arm.ids import ResourceId
from simulator.arm.network_specs import (
    ApplicationRuleSpec,
    AzureFirewallSpec,
    FirewallPolicySpec,
    IpGroupSpec,
    KeyVaultSpec,
    NatGatewaySpec,
    NetworkRuleSpec,
    PrivateEndpointSpec,
    RegistrySpec,
    RouteTableSpec,
    RuleCollectionSpec,
)
from simulator.arm.private_link import record_name
from simulator.arm.store import (
    A_RECORD_TYPE,
    FIREWALL_POLICY_TYPE,
    FIREWALL_TYPE,
    IP_GROUP_TYPE,
    NAT_GATEWAY_TYPE,
    PRIVATE_ENDPOINT_TYPE,
    REGISTRY_TYPE,
    ROUTE_TABLE_TYPE,
    ROUTE_TYPE,
    RULE_COLLECTION_GROUP_TYPE,
    VAULT_TYPE,
    ZONE_GROUP_TYPE,
    ResourceStore,
    arm_body,
)
from simulator.arm.topology import SubscriptionSpec

# What public DNS answers for a registry's or vault's name; ARM does not show it.
PUBLIC_ADDRESS_META = "public_address"
# The addresses behind a NAT gateway's or a firewall's public IP references (not stored themselves).
PUBLIC_ADDRESSES_META = "public_addresses"
# The private addresses of an endpoint (its NIC's, which the simulator does not store).
ENDPOINT_ADDRESSES_META = "endpoint_addresses"
SUCCEEDED = "Succeeded"

LocationOf = Callable[[str, str | None, str], str]


def public_address_for(name: str) -> str:
    """A stable public IPv4 address for an Internet name (what public DNS would answer)."""
    digest = uuid.uuid5(uuid.NAMESPACE_DNS, name.rstrip(".").lower()).bytes
    return f"20.{64 + digest[0] % 64}.{digest[1]}.{1 + digest[2] % 254}"


def _guid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(parts).lower()))


def _rid(subscription: str, resource_group: str, type_name: str, name: str) -> ResourceId:
    return ResourceId.resource(subscription, resource_group, "Microsoft.Network", type_name, name)


def seed_network(
    store: ResourceStore, subscription: str, tenant_id: str, sub: SubscriptionSpec, location_of: LocationOf
) -> None:
    """Everything of `sub` on the way out and to private endpoints."""
    for nat in sub.nat_gateways:
        _put_nat_gateway(store, subscription, nat, location_of(nat.resource_group, nat.location, nat.name))
    for table in sub.route_tables:
        _put_route_table(
            store, subscription, table, location_of(table.resource_group, table.location, table.name)
        )
    for group in sub.ip_groups:
        _put_ip_group(
            store, subscription, group, location_of(group.resource_group, group.location, group.name)
        )
    for policy in sub.firewall_policies:
        location = location_of(policy.resource_group, policy.location, policy.name)
        _put_firewall_policy(store, subscription, policy, location)
    for firewall in sub.firewalls:
        location = location_of(firewall.resource_group, firewall.location, firewall.name)
        _put_firewall(store, subscription, firewall, location)
    for registry in sub.registries:
        location = location_of(registry.resource_group, registry.location, registry.name)
        _put_registry(store, subscription, registry, location)
    for vault in sub.vaults:
        _put_vault(
            store,
            subscription,
            tenant_id,
            vault,
            location_of(vault.resource_group, vault.location, vault.name),
        )
    for endpoint in sub.private_endpoints:
        location = location_of(endpoint.resource_group, endpoint.location, endpoint.name)
        _put_private_endpoint(store, subscription, endpoint, location)


def link_network(store: ResourceStore, sub: SubscriptionSpec) -> None:
    """What crosses resources once every subscription is seeded: zone group records into their
    zones, and the checks Azure makes on references (a NAT gateway serves one VNet)."""
    for endpoint in sub.private_endpoints:
        _write_zone_records(store, endpoint)
    _check_subnet_references(store, sub)


# --- NAT gateways and their public addresses -------------------------------------------------------


def _put_nat_gateway(store: ResourceStore, subscription: str, nat: NatGatewaySpec, location: str) -> None:
    """A NAT gateway; its public IPs and prefixes are referenced, their addresses kept as meta (not
    stored as resources: a list of public IPs stays the VMs' own)."""
    rid = _rid(subscription, nat.resource_group, "natGateways", nat.name)
    addresses = [
        {"id": str(_rid(subscription, nat.resource_group, "publicIPAddresses", f"pip-{nat.name}-{index}"))}
        for index in range(1, len(nat.public_ips) + 1)
    ]
    prefixes = [
        {"id": str(_rid(subscription, nat.resource_group, "publicIPPrefixes", f"ippre-{nat.name}-{index}"))}
        for index in range(1, len(nat.public_ip_prefixes) + 1)
    ]
    properties: dict[str, Any] = {
        "provisioningState": SUCCEEDED,
        "resourceGuid": _guid(str(rid)),
        "idleTimeoutInMinutes": nat.idle_timeout_minutes,
        "publicIpAddresses": addresses,
        "publicIpPrefixes": prefixes,
    }
    stored = store.put(
        rid, arm_body(rid, NAT_GATEWAY_TYPE, properties, location=location, sku={"name": "Standard"}, tags={})
    )
    stored.meta[PUBLIC_ADDRESSES_META] = [
        *nat.public_ips,
        *(str(ipaddress.ip_network(p)) for p in nat.public_ip_prefixes),
    ]


# --- route tables --------------------------------------------------------------------------------


def _put_route_table(store: ResourceStore, subscription: str, table: RouteTableSpec, location: str) -> None:
    rid = _rid(subscription, table.resource_group, "routeTables", table.name)
    properties = {
        "provisioningState": SUCCEEDED,
        "resourceGuid": _guid(str(rid)),
        "disableBgpRoutePropagation": table.disable_bgp_route_propagation,
    }
    store.put(rid, arm_body(rid, ROUTE_TABLE_TYPE, properties, location=location, tags={}))
    for route in table.routes:
        if (route.next_hop_type == "VirtualAppliance") != (route.next_hop_ip is not None):
            raise ValueError(f"route {route.name}: a next hop IP address is for VirtualAppliance only")
        route_id = rid.child("routes", route.name)
        route_properties: dict[str, Any] = {
            "provisioningState": SUCCEEDED,
            "addressPrefix": str(ipaddress.ip_network(route.address_prefix)),
            "nextHopType": route.next_hop_type,
            "hasBgpOverride": False,
        }
        if route.next_hop_ip is not None:
            route_properties["nextHopIpAddress"] = route.next_hop_ip
        store.put(route_id, arm_body(route_id, ROUTE_TYPE, route_properties))


# --- IP groups, firewall policies, firewalls ----------------------------------------------------


def _put_ip_group(store: ResourceStore, subscription: str, group: IpGroupSpec, location: str) -> None:
    rid = _rid(subscription, group.resource_group, "ipGroups", group.name)
    properties = {"provisioningState": SUCCEEDED, "ipAddresses": list(group.ip_addresses)}
    store.put(rid, arm_body(rid, IP_GROUP_TYPE, properties, location=location, tags={}))


def _put_firewall_policy(
    store: ResourceStore, subscription: str, policy: FirewallPolicySpec, location: str
) -> None:
    rid = _rid(subscription, policy.resource_group, "firewallPolicies", policy.name)
    properties: dict[str, Any] = {
        "provisioningState": SUCCEEDED,
        "threatIntelMode": "Alert",
        "sku": {"tier": policy.tier},
        "dnsSettings": {"servers": [], "enableProxy": policy.dns_proxy},
    }
    if policy.base_policy_id:
        properties["basePolicy"] = {"id": policy.base_policy_id}
    store.put(rid, arm_body(rid, FIREWALL_POLICY_TYPE, properties, location=location, tags={}))
    for group in policy.groups:
        group_id = rid.child("ruleCollectionGroups", group.name)
        collections = [_policy_collection(c) for c in group.collections]
        group_properties = {
            "provisioningState": SUCCEEDED,
            "priority": group.priority,
            "ruleCollections": collections,
        }
        store.put(group_id, arm_body(group_id, RULE_COLLECTION_GROUP_TYPE, group_properties))


def _policy_collection(collection: RuleCollectionSpec) -> dict[str, Any]:
    _one_kind(collection)
    return {
        "ruleCollectionType": "FirewallPolicyFilterRuleCollection",
        "name": collection.name,
        "priority": collection.priority,
        "action": {"type": collection.action},
        "rules": [_policy_rule(rule) for rule in collection.rules],
    }


def _one_kind(collection: RuleCollectionSpec) -> type:
    kinds = {type(rule) for rule in collection.rules}
    if len(kinds) != 1:
        raise ValueError(
            f"rule collection {collection.name} must hold rules of one kind (application or network)"
        )
    return kinds.pop()


def _policy_rule(rule: ApplicationRuleSpec | NetworkRuleSpec) -> dict[str, Any]:
    if isinstance(rule, ApplicationRuleSpec):
        return {
            "ruleType": "ApplicationRule",
            "name": rule.name,
            "protocols": [{"protocolType": kind, "port": port} for kind, port in rule.protocols],
            "sourceAddresses": list(rule.source_addresses),
            "sourceIpGroups": list(rule.source_ip_groups),
            "targetFqdns": list(rule.target_fqdns),
            "targetUrls": [],
            "fqdnTags": list(rule.fqdn_tags),
            "webCategories": list(rule.web_categories),
            "destinationAddresses": [],
            "terminateTLS": False,
        }
    return {
        "ruleType": "NetworkRule",
        "name": rule.name,
        "ipProtocols": list(rule.protocols),
        "sourceAddresses": list(rule.source_addresses),
        "sourceIpGroups": list(rule.source_ip_groups),
        "destinationAddresses": list(rule.destination_addresses),
        "destinationIpGroups": list(rule.destination_ip_groups),
        "destinationFqdns": list(rule.destination_fqdns),
        "destinationPorts": list(rule.destination_ports),
    }


def _classic_collection(firewall: ResourceId, kind: str, collection: RuleCollectionSpec) -> dict[str, Any]:
    wanted = ApplicationRuleSpec if kind == "applicationRuleCollections" else NetworkRuleSpec
    if _one_kind(collection) is not wanted:
        raise ValueError(f"{kind} {collection.name} holds rules of the other kind")
    rules = []
    for rule in collection.rules:
        if isinstance(rule, ApplicationRuleSpec):
            rules.append(
                {
                    "name": rule.name,
                    "protocols": [{"protocolType": k, "port": p} for k, p in rule.protocols],
                    "targetFqdns": list(rule.target_fqdns),
                    "fqdnTags": list(rule.fqdn_tags),
                    "sourceAddresses": list(rule.source_addresses),
                    "sourceIpGroups": list(rule.source_ip_groups),
                }
            )
        else:
            rules.append(
                {
                    "name": rule.name,
                    "protocols": list(rule.protocols),
                    "sourceAddresses": list(rule.source_addresses),
                    "sourceIpGroups": list(rule.source_ip_groups),
                    "destinationAddresses": list(rule.destination_addresses),
                    "destinationIpGroups": list(rule.destination_ip_groups),
                    "destinationFqdns": list(rule.destination_fqdns),
                    "destinationPorts": list(rule.destination_ports),
                }
            )
    return {
        "name": collection.name,
        "id": str(firewall.child(kind, collection.name)),
        "properties": {
            "provisioningState": SUCCEEDED,
            "priority": collection.priority,
            "action": {"type": collection.action},
            "rules": rules,
        },
    }


def _put_firewall(
    store: ResourceStore, subscription: str, firewall: AzureFirewallSpec, location: str
) -> None:
    rid = _rid(subscription, firewall.resource_group, "azureFirewalls", firewall.name)
    if ResourceId.parse(firewall.subnet_id).name != "AzureFirewallSubnet":
        raise ValueError(f"firewall {firewall.name} must sit in a subnet named AzureFirewallSubnet")
    if firewall.firewall_policy_id and (firewall.application_collections or firewall.network_collections):
        raise ValueError(f"firewall {firewall.name}: a firewall policy or classic rules, not both")
    ip_config = rid.child("ipConfigurations", "azureFirewallIpConfiguration")
    pip = _rid(subscription, firewall.resource_group, "publicIPAddresses", f"pip-{firewall.name}")
    tier = "Standard"
    if firewall.firewall_policy_id:
        policy = store.get(firewall.firewall_policy_id)
        tier = str((policy.properties.get("sku") or {}).get("tier", tier)) if policy is not None else tier
    properties: dict[str, Any] = {
        "provisioningState": SUCCEEDED,
        "sku": {"name": "AZFW_VNet", "tier": tier},
        "threatIntelMode": "Alert",
        "ipConfigurations": [
            {
                "name": ip_config.name,
                "id": str(ip_config),
                "properties": {
                    "provisioningState": SUCCEEDED,
                    "privateIPAddress": firewall.private_ip,
                    "subnet": {"id": firewall.subnet_id},
                    "publicIPAddress": {"id": str(pip)},
                },
            }
        ],
        "applicationRuleCollections": [
            _classic_collection(rid, "applicationRuleCollections", c)
            for c in firewall.application_collections
        ],
        "natRuleCollections": [],
        "networkRuleCollections": [
            _classic_collection(rid, "networkRuleCollections", c) for c in firewall.network_collections
        ],
        "ipGroups": [],
        "additionalProperties": {"Network.DNS.EnableProxy": "true"} if firewall.dns_proxy else {},
    }
    if firewall.firewall_policy_id:
        properties["firewallPolicy"] = {"id": firewall.firewall_policy_id}
    stored = store.put(rid, arm_body(rid, FIREWALL_TYPE, properties, location=location, zones=[], tags={}))
    stored.meta[PUBLIC_ADDRESSES_META] = [firewall.public_ip]


# --- private-link targets and private endpoints ---------------------------------------------------


def _put_registry(store: ResourceStore, subscription: str, registry: RegistrySpec, location: str) -> None:
    rid = ResourceId.resource(
        subscription, registry.resource_group, "Microsoft.ContainerRegistry", "registries", registry.name
    )
    login_server = f"{registry.name.lower()}.azurecr.io"
    properties = {
        "loginServer": login_server,
        "creationDate": "2025-01-15T09:30:00.0000000Z",
        "provisioningState": SUCCEEDED,
        "adminUserEnabled": False,
        "networkRuleSet": {"defaultAction": "Deny", "ipRules": []},
        "policies": {
            "quarantinePolicy": {"status": "disabled"},
            "trustPolicy": {"type": "Notary", "status": "disabled"},
            "retentionPolicy": {"days": 7, "status": "disabled"},
            "exportPolicy": {"status": "enabled"},
        },
        "encryption": {"status": "disabled"},
        "dataEndpointEnabled": True,
        "dataEndpointHostNames": [f"{registry.name.lower()}.{location}.data.azurecr.io"],
        "publicNetworkAccess": registry.public_network_access,
        "networkRuleBypassOptions": "AzureServices",
        "zoneRedundancy": "Disabled",
    }
    sku = {"name": "Premium", "tier": "Premium"}  # private endpoints need Premium
    stored = store.put(rid, arm_body(rid, REGISTRY_TYPE, properties, location=location, tags={}, sku=sku))
    stored.meta[PUBLIC_ADDRESS_META] = registry.public_address or public_address_for(login_server)


def _put_vault(
    store: ResourceStore, subscription: str, tenant_id: str, vault: KeyVaultSpec, location: str
) -> None:
    rid = ResourceId.resource(subscription, vault.resource_group, "Microsoft.KeyVault", "vaults", vault.name)
    host = f"{vault.name.lower()}.vault.azure.net"
    properties = {
        "sku": {"family": "A", "name": "standard"},
        "tenantId": tenant_id,
        "accessPolicies": [],
        "enabledForDeployment": False,
        "enabledForDiskEncryption": False,
        "enabledForTemplateDeployment": False,
        "enableSoftDelete": True,
        "softDeleteRetentionInDays": 90,
        "enableRbacAuthorization": True,
        "vaultUri": f"https://{host}/",
        "provisioningState": SUCCEEDED,
        "publicNetworkAccess": vault.public_network_access,
        "networkAcls": {
            "bypass": "AzureServices",
            "defaultAction": "Deny",
            "ipRules": [],
            "virtualNetworkRules": [],
        },
    }
    stored = store.put(rid, arm_body(rid, VAULT_TYPE, properties, location=location, tags={}))
    stored.meta[PUBLIC_ADDRESS_META] = vault.public_address or public_address_for(host)


def _put_private_endpoint(
    store: ResourceStore, subscription: str, endpoint: PrivateEndpointSpec, location: str
) -> None:
    rid = _rid(subscription, endpoint.resource_group, "privateEndpoints", endpoint.name)
    subnet = ResourceId.parse(endpoint.subnet_id)
    # Azure makes a NIC for the endpoint; it is named here but not stored (a NIC list shows VMs' only).
    nic = _rid(
        subscription, endpoint.resource_group, "networkInterfaces", f"{endpoint.name}.nic.{_guid(str(rid))}"
    )
    kind = "manualPrivateLinkServiceConnections" if endpoint.manual else "privateLinkServiceConnections"
    state = {
        "status": endpoint.status,
        "description": {"Approved": "Auto-Approved", "Pending": "Awaiting approval"}.get(
            endpoint.status, endpoint.status
        ),
        "actionsRequired": "None",
    }
    connection_properties: dict[str, Any] = {
        "provisioningState": SUCCEEDED,
        "privateLinkServiceId": endpoint.target_id,
        "groupIds": [endpoint.group_id],
        "privateLinkServiceConnectionState": state,
    }
    if endpoint.manual:
        connection_properties["requestMessage"] = "Please approve this connection."
    connection = {
        "name": endpoint.name,
        "id": str(rid.child(kind, endpoint.name)),
        "type": f"{PRIVATE_ENDPOINT_TYPE}/privateLinkServiceConnections",
        "properties": connection_properties,
    }
    properties: dict[str, Any] = {
        "provisioningState": SUCCEEDED,
        "resourceGuid": _guid("pe", str(rid)),
        "privateLinkServiceConnections": [] if endpoint.manual else [connection],
        "manualPrivateLinkServiceConnections": [connection] if endpoint.manual else [],
        "subnet": {"id": str(subnet)},
        "networkInterfaces": [{"id": str(nic)}],
        "customDnsConfigs": [{"fqdn": e.fqdn, "ipAddresses": [e.address]} for e in endpoint.addresses],
        "applicationSecurityGroups": [],
        "ipConfigurations": [],
    }
    stored = store.put(rid, arm_body(rid, PRIVATE_ENDPOINT_TYPE, properties, location=location, tags={}))
    stored.meta[ENDPOINT_ADDRESSES_META] = [entry.address for entry in endpoint.addresses]
    if endpoint.zone_ids:
        group = rid.child("privateDnsZoneGroups", "default")
        group_properties = {
            "provisioningState": SUCCEEDED,
            "privateDnsZoneConfigs": [_zone_config(endpoint, zone_id) for zone_id in endpoint.zone_ids],
        }
        store.put(group, arm_body(group, ZONE_GROUP_TYPE, group_properties))


def _zone_config(endpoint: PrivateEndpointSpec, zone_id: str) -> dict[str, Any]:
    zone_name = ResourceId.parse(zone_id).name
    records = []
    for entry in endpoint.addresses:
        found = record_name(entry.fqdn)
        if found is None or found[0] != zone_name.lower():
            continue
        records.append(
            {
                "recordType": "A",
                "recordSetName": found[1],
                "fqdn": f"{found[1]}.{zone_name}",
                "ttl": 10,
                "ipAddresses": [entry.address],
                "provisioningState": SUCCEEDED,
            }
        )
    return {
        "name": zone_name.replace(".", "-"),
        "properties": {"privateDnsZoneId": zone_id, "recordSets": records},
    }


def _write_zone_records(store: ResourceStore, endpoint: PrivateEndpointSpec) -> None:
    """A zone group keeps an A record per name in each of its zones (the zone must exist)."""
    for zone_id in endpoint.zone_ids:
        zone = store.get(zone_id)
        if zone is None:
            raise ValueError(f"private endpoint {endpoint.name}: zone {zone_id} is not in the topology")
        for record in _zone_config(endpoint, zone_id)["properties"]["recordSets"]:
            record_id = zone.id.child("A", record["recordSetName"])
            if store.get(record_id) is not None:
                continue
            properties = {
                "ttl": record["ttl"],
                "fqdn": f"{record['fqdn']}.",
                "isAutoRegistered": False,
                "aRecords": [{"ipv4Address": a} for a in record["ipAddresses"]],
            }
            store.put(record_id, arm_body(record_id, A_RECORD_TYPE, properties))


def _check_subnet_references(store: ResourceStore, sub: SubscriptionSpec) -> None:
    nat_vnets: dict[str, str] = {}
    for vnet in sub.vnets:
        for subnet in vnet.subnets:
            for ref, what in ((subnet.nat_gateway_id, "NAT gateway"), (subnet.route_table_id, "route table")):
                if ref and store.get(ref) is None:
                    raise ValueError(
                        f"subnet {subnet.name} references {what} {ref}, which is not in the topology"
                    )
            if subnet.nat_gateway_id:
                seen = nat_vnets.setdefault(subnet.nat_gateway_id.lower(), vnet.name)
                if seen != vnet.name:
                    raise ValueError(
                        f"NAT gateway {subnet.nat_gateway_id} serves {seen} and {vnet.name}: a NAT gateway "
                        "cannot span virtual networks"
                    )
