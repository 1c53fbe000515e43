"""Turn a `Topology` into stored ARM resources with the bodies Azure returns for them (egress and
private-link resources: `seeding_network`)."""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

from simulator.arm.ids import ResourceId
from simulator.arm.network import RESERVED_AT_START
from simulator.arm.seeding_network import link_network, seed_network
from simulator.arm.store import (
    A_RECORD_TYPE,
    AKS_TYPE,
    LINK_TYPE,
    NIC_TYPE,
    NSG_TYPE,
    PEERING_TYPE,
    SUBNET_TYPE,
    VNET_TYPE,
    ZONE_TYPE,
    ResourceStore,
    arm_body,
)
from simulator.arm.topology import (
    ManagedClusterSpec,
    NsgRuleSpec,
    NsgSpec,
    PeeringSpec,
    PrivateZoneSpec,
    SubnetSpec,
    SubscriptionSpec,
    Topology,
    VNetSpec,
)

# What a VNet's custom DNS servers do is invisible to ARM; the in-VM resolver reads it from here.
DNS_FORWARDS_META = "dns_forwards_to_azure"


def seed_topology(store: ResourceStore, topology: Topology) -> None:
    for sub in topology.subscriptions:
        _seed_subscription(store, topology, sub)
    # References may cross subscriptions, so they are made once every resource exists.
    for sub in topology.subscriptions:
        for peering in sub.peerings:
            _put_peering(store, peering)
        for zone in sub.private_zones:
            for link in zone.links:
                properties = {
                    "virtualNetwork": {"id": link.vnet_id},
                    "registrationEnabled": link.registration_enabled,
                    "virtualNetworkLinkState": link.state,
                    "provisioningState": link.provisioning_state,
                }
                put_link(store, ResourceId.parse(_zone_id(sub.id, zone)), link.name, properties, tags={})
        link_network(store, sub)


def _seed_subscription(store: ResourceStore, topology: Topology, sub: SubscriptionSpec) -> None:
    sub_id = ResourceId(sub.id)
    store.put(
        sub_id,
        {
            "id": str(sub_id),
            "subscriptionId": sub.id,
            "displayName": sub.display_name,
            "tenantId": topology.tenant_id,
            "state": "Enabled",
        },
    )
    locations: dict[str, str] = {}
    for group in sub.resource_groups:
        rg_id = ResourceId(sub.id, group.name)
        locations[group.name.lower()] = group.location
        store.put(
            rg_id,
            {
                "id": str(rg_id),
                "name": group.name,
                "type": "Microsoft.Resources/resourceGroups",
                "location": group.location,
                "properties": {"provisioningState": "Succeeded"},
            },
        )

    def location_of(resource_group: str, explicit: str | None, what: str) -> str:
        location = explicit or locations.get(resource_group.lower())
        if location is None:
            raise ValueError(f"{what} is in unknown resource group {resource_group}")
        return location

    for nsg in sub.nsgs:
        _put_nsg(store, sub.id, nsg, location_of(nsg.resource_group, nsg.location, f"NSG {nsg.name}"))
    for vnet in sub.vnets:
        _put_vnet(store, sub.id, vnet, location_of(vnet.resource_group, vnet.location, f"VNet {vnet.name}"))
    for zone in sub.private_zones:
        location_of(zone.resource_group, "global", f"zone {zone.name}")
        _put_zone(store, sub.id, zone)
    for cluster in sub.clusters:
        location = location_of(cluster.resource_group, cluster.location, f"cluster {cluster.name}")
        _put_cluster(store, sub.id, cluster, location)
    seed_network(store, sub.id, topology.tenant_id, sub, location_of)


def _put_vnet(store: ResourceStore, subscription: str, vnet: VNetSpec, location: str) -> None:
    rid = ResourceId.resource(
        subscription, vnet.resource_group, "Microsoft.Network", "virtualNetworks", vnet.name
    )
    properties: dict[str, Any] = {
        "provisioningState": "Succeeded",
        "resourceGuid": str(uuid.uuid4()),
        "addressSpace": {"addressPrefixes": list(vnet.address_prefixes)},
        "enableDdosProtection": False,
    }
    if vnet.dns_servers:
        properties["dhcpOptions"] = {"dnsServers": list(vnet.dns_servers)}
    stored = store.put(rid, arm_body(rid, VNET_TYPE, properties, location=location, tags={}))
    stored.meta[DNS_FORWARDS_META] = vnet.dns_forwards_to_azure
    for subnet in vnet.subnets:
        _put_subnet(store, rid, subnet, location)


def _put_subnet(store: ResourceStore, vnet: ResourceId, subnet: SubnetSpec, location: str) -> None:
    rid = vnet.child("subnets", subnet.name)
    properties: dict[str, Any] = {
        "provisioningState": "Succeeded",
        "addressPrefix": subnet.address_prefix,
        "delegations": [
            arm_body(
                rid.child("delegations", f"delegation-{index}"),
                f"{SUBNET_TYPE}/delegations",
                {"provisioningState": "Succeeded", "serviceName": service, "actions": []},
            )
            for index, service in enumerate(subnet.delegations)
        ],
        "privateEndpointNetworkPolicies": "Disabled",
        "privateLinkServiceNetworkPolicies": "Enabled",
    }
    if subnet.nsg_id:
        properties["networkSecurityGroup"] = {"id": subnet.nsg_id}
    if subnet.nat_gateway_id:
        properties["natGateway"] = {"id": subnet.nat_gateway_id}
    if subnet.route_table_id:
        properties["routeTable"] = {"id": subnet.route_table_id}
    if subnet.default_outbound_access is not None:
        properties["defaultOutboundAccess"] = subnet.default_outbound_access
    store.put(rid, arm_body(rid, SUBNET_TYPE, properties))
    _occupy(store, rid, subnet, location)


def _occupy(store: ResourceStore, subnet: ResourceId, spec: SubnetSpec, location: str) -> None:
    """NICs of other workloads (a database, a jump box), so a subnet's free space is real."""
    network = ipaddress.ip_network(spec.address_prefix, strict=False)
    first = int(network.network_address) + RESERVED_AT_START
    for index in range(spec.occupied):
        name = f"nic-{subnet.name}-other-{index + 1}"
        nic = ResourceId.resource(
            subnet.subscription, subnet.resource_group or "", "Microsoft.Network", "networkInterfaces", name
        )
        ip_config = nic.child("ipConfigurations", "ipconfig1")
        ip_properties = {
            "privateIPAddress": str(ipaddress.ip_address(first + index)),
            "privateIPAllocationMethod": "Dynamic",
            "subnet": {"id": str(subnet)},
            "primary": True,
        }
        ip_configuration = arm_body(ip_config, f"{NIC_TYPE}/ipConfigurations", ip_properties)
        properties = {"provisioningState": "Succeeded", "ipConfigurations": [ip_configuration]}
        store.put(nic, arm_body(nic, NIC_TYPE, properties, location=location))


def _put_peering(store: ResourceStore, spec: PeeringSpec) -> None:
    local = ResourceId.parse(spec.vnet_id)
    rid = local.child("virtualNetworkPeerings", spec.name)
    properties = {
        "provisioningState": "Succeeded",
        "peeringState": spec.state,
        "peeringSyncLevel": spec.sync_level,
        "remoteVirtualNetwork": {"id": spec.remote_vnet_id},
        "allowVirtualNetworkAccess": spec.allow_virtual_network_access,
        "allowForwardedTraffic": False,
        "allowGatewayTransit": False,
        "useRemoteGateways": False,
        "doNotVerifyRemoteGateways": False,
    }
    store.put(rid, arm_body(rid, PEERING_TYPE, properties))


DEFAULT_RULES: tuple[NsgRuleSpec, ...] = (
    NsgRuleSpec("AllowVnetInBound", 65000, "Inbound", "Allow", "*", "VirtualNetwork", "VirtualNetwork"),
    NsgRuleSpec("AllowAzureLoadBalancerInBound", 65001, "Inbound", "Allow", "*", "AzureLoadBalancer", "*"),
    NsgRuleSpec("DenyAllInBound", 65500, "Inbound", "Deny"),
    NsgRuleSpec("AllowVnetOutBound", 65000, "Outbound", "Allow", "*", "VirtualNetwork", "VirtualNetwork"),
    NsgRuleSpec("AllowInternetOutBound", 65001, "Outbound", "Allow", "*", "*", "Internet"),
    NsgRuleSpec("DenyAllOutBound", 65500, "Outbound", "Deny"),
)


def _rule_body(nsg: ResourceId, rule: NsgRuleSpec, *, default: bool) -> dict[str, Any]:
    kind = "defaultSecurityRules" if default else "securityRules"
    rid = nsg.child(kind, rule.name)
    properties: dict[str, Any] = {
        "provisioningState": "Succeeded",
        "protocol": rule.protocol,
        "sourcePortRange": "*",
        "access": rule.access,
        "priority": rule.priority,
        "direction": rule.direction,
        "sourcePortRanges": [],
    }
    # Augmented rules: several prefixes or ports go in the plural field, one in the singular.
    for single, plural, text in (
        ("sourceAddressPrefix", "sourceAddressPrefixes", rule.source),
        ("destinationAddressPrefix", "destinationAddressPrefixes", rule.destination),
        ("destinationPortRange", "destinationPortRanges", rule.destination_ports),
    ):
        values = [v.strip() for v in text.split(",")]
        if len(values) == 1:
            properties |= {single: values[0], plural: []}
        else:
            properties[plural] = values
    return arm_body(rid, f"{NSG_TYPE}/{kind}", properties)


def _put_nsg(store: ResourceStore, subscription: str, nsg: NsgSpec, location: str) -> None:
    rid = ResourceId.resource(
        subscription, nsg.resource_group, "Microsoft.Network", "networkSecurityGroups", nsg.name
    )
    properties = {
        "provisioningState": "Succeeded",
        "resourceGuid": str(uuid.uuid4()),
        "securityRules": [_rule_body(rid, r, default=False) for r in nsg.rules],
        "defaultSecurityRules": [_rule_body(rid, r, default=True) for r in DEFAULT_RULES],
    }
    store.put(rid, arm_body(rid, NSG_TYPE, properties, location=location))


def _zone_id(subscription: str, zone: PrivateZoneSpec) -> str:
    return str(
        ResourceId.resource(
            subscription, zone.resource_group, "Microsoft.Network", "privateDnsZones", zone.name
        )
    )


def _put_zone(store: ResourceStore, subscription: str, zone: PrivateZoneSpec) -> None:
    rid = ResourceId.parse(_zone_id(subscription, zone))
    properties = {
        "provisioningState": "Succeeded",
        "maxNumberOfRecordSets": 25000,
        "maxNumberOfVirtualNetworkLinks": 1000,
        "maxNumberOfVirtualNetworkLinksWithRegistration": 100,
        "internalId": str(uuid.uuid4()),
    }
    store.put(rid, arm_body(rid, ZONE_TYPE, properties, location="global", tags={}))
    for record in zone.records:
        record_id = rid.child("A", record.name)
        record_properties = {
            "ttl": record.ttl,
            "fqdn": f"{record.name}.{zone.name}.",
            "isAutoRegistered": False,
            "aRecords": [{"ipv4Address": address} for address in record.addresses],
        }
        store.put(record_id, arm_body(record_id, A_RECORD_TYPE, record_properties))


def put_link(
    store: ResourceStore, zone: ResourceId, name: str, properties: dict[str, Any], *, tags: dict[str, str]
) -> None:
    """Store a virtual network link of a private DNS zone (links are always `global`)."""
    rid = zone.child("virtualNetworkLinks", name)
    store.put(rid, arm_body(rid, LINK_TYPE, properties, location="global", tags=tags))


def _put_cluster(store: ResourceStore, subscription: str, cluster: ManagedClusterSpec, location: str) -> None:
    rid = ResourceId.resource(
        subscription, cluster.resource_group, "Microsoft.ContainerService", "managedClusters", cluster.name
    )
    access: dict[str, Any] = {
        "enablePrivateCluster": cluster.private,
        "enablePrivateClusterPublicFQDN": False,
        "enableVnetIntegration": cluster.api_server_subnet_id is not None,
    }
    if cluster.private:
        access["privateDNSZone"] = cluster.private_dns_zone
    if cluster.api_server_subnet_id:
        access["subnetId"] = cluster.api_server_subnet_id
    pool: dict[str, Any] = {
        "name": "system",
        "count": 3,
        "vmSize": "Standard_D4ads_v5",
        "mode": "System",
        "osType": "Linux",
        "type": "VirtualMachineScaleSets",
        "provisioningState": "Succeeded",
        "powerState": {"code": "Running"},
    }
    if cluster.node_subnet_id:
        pool["vnetSubnetID"] = cluster.node_subnet_id
    properties: dict[str, Any] = {
        "provisioningState": "Succeeded",
        "powerState": {"code": "Running"},
        "kubernetesVersion": cluster.kubernetes_version,
        "currentKubernetesVersion": cluster.kubernetes_version,
        "dnsPrefix": cluster.name,
        "nodeResourceGroup": cluster.node_resource_group,
        "agentPoolProfiles": [pool],
        "apiServerAccessProfile": access,
        "networkProfile": {
            "networkPlugin": "azure",
            "loadBalancerSku": "standard",
            "outboundType": "loadBalancer",
        },
        "enableRBAC": True,
    }
    if cluster.private and cluster.private_fqdn:
        properties["privateFQDN"] = cluster.private_fqdn
    elif cluster.private_fqdn:
        properties["fqdn"] = cluster.private_fqdn
    sku, identity = {"name": "Base", "tier": "Standard"}, {"type": "SystemAssigned"}
    stored = store.put(
        rid, arm_body(rid, AKS_TYPE, properties, location=location, sku=sku, identity=identity)
    )
    if cluster.api_server_address:
        stored.meta["api_server_address"] = cluster.api_server_address
