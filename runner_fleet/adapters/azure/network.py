"""The preflight's `TopologyReader` on Resource Manager: network (the way out and private endpoints
included), private DNS, AKS and compute reads.

Clients are built per subscription (a cluster's VNet and zone are often in another one), with the
same connection settings, pinned API versions and single retry layer as the compute adapter. Every
read maps 404 to None and any other failure to `ReadError` naming the status and ARM error code, so
a missing role assignment shows up as what it is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any, Literal, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.mgmt.compute.aio import ComputeManagementClient
from azure.mgmt.containerservice.aio import ContainerServiceClient
from azure.mgmt.network.aio import NetworkManagementClient
from azure.mgmt.privatedns.aio import PrivateDnsManagementClient
from azure.mgmt.privatedns.models import SubResource, VirtualNetworkLink, VirtualNetworkLinkProperties

from runner_fleet.adapters.azure.clients import ArmClients, ArmConnection
from runner_fleet.adapters.azure.retry import RETRYABLE_STATUS
from runner_fleet.preflight.ids import name_of, parse
from runner_fleet.preflight.reader import ReadError, TransientReadError
from runner_fleet.preflight.topology import (
    AksFacts,
    EndpointConnection,
    FirewallFacts,
    FirewallPolicyFacts,
    FirewallRule,
    ImageFacts,
    NatGatewayFacts,
    NsgFacts,
    NsgRule,
    PeeringFacts,
    PrivateEndpointFacts,
    RouteFacts,
    RouteTableFacts,
    SizeOffer,
    SubnetFacts,
    VNetFacts,
    ZoneConfigFacts,
    ZoneFacts,
    ZoneGroupFacts,
    ZoneGroupRecord,
    ZoneLinkFacts,
)

T = TypeVar("T")


class AzureTopologyReader:
    def __init__(self, connection: ArmConnection) -> None:
        self._clients = ArmClients(connection)
        self._versions = connection.api_versions

    def _client(self, kind: Callable[..., T], subscription: str) -> T:
        return self._clients.get(kind, subscription)

    def _network(self, subscription: str) -> NetworkManagementClient:
        return self._client(NetworkManagementClient, subscription)

    def _dns(self, subscription: str) -> PrivateDnsManagementClient:
        return self._client(PrivateDnsManagementClient, subscription)

    async def _network_get(
        self, resource_id: str, get: Callable[[NetworkManagementClient], Callable[..., Awaitable[T]]]
    ) -> T | None:
        """A network resource (`get` picks the operation) by its ID, at the pinned API version; None
        when it does not exist."""
        rid = parse(resource_id)
        call = get(self._network(rid.subscription))(
            rid.resource_group, rid.name, api_version=self._versions.network
        )
        return await _read(call, resource_id)

    # --- network ---------------------------------------------------------------------------------

    async def vnet(self, vnet_id: str) -> VNetFacts | None:
        vnet = await self._network_get(vnet_id, lambda network: network.virtual_networks.get)
        if vnet is None:
            return None
        dhcp = getattr(vnet, "dhcp_options", None)
        space = getattr(vnet, "address_space", None)
        return VNetFacts(
            id=str(vnet.id),
            name=str(vnet.name),
            location=str(vnet.location or ""),
            address_prefixes=tuple(getattr(space, "address_prefixes", None) or ()),
            dns_servers=tuple(getattr(dhcp, "dns_servers", None) or ()),
            peerings=tuple(_peering(p) for p in (vnet.virtual_network_peerings or [])),
        )

    async def subnet(self, subnet_id: str) -> SubnetFacts | None:
        rid = parse(subnet_id)
        network = self._network(rid.subscription)
        subnet = await _read(
            network.subnets.get(
                rid.resource_group, rid.names[0], rid.name, api_version=self._versions.network
            ),
            subnet_id,
        )
        if subnet is None:
            return None
        prefixes = tuple(subnet.address_prefixes or ()) or (
            (subnet.address_prefix,) if subnet.address_prefix else ()
        )
        nsg = getattr(subnet, "network_security_group", None)
        outbound = getattr(subnet, "default_outbound_access", None)
        return SubnetFacts(
            id=str(subnet.id),
            name=str(subnet.name),
            address_prefixes=prefixes,
            delegations=tuple(str(d.service_name) for d in (subnet.delegations or []) if d.service_name),
            nsg_id=str(nsg.id) if nsg is not None and nsg.id else None,
            ip_configuration_ids=tuple(str(c.id) for c in (subnet.ip_configurations or []) if c.id),
            nat_gateway_id=_id_of(getattr(subnet, "nat_gateway", None)),
            route_table_id=_id_of(getattr(subnet, "route_table", None)),
            default_outbound_access=None if outbound is None else bool(outbound),
        )

    async def nsg(self, nsg_id: str) -> NsgFacts | None:
        nsg = await self._network_get(nsg_id, lambda network: network.network_security_groups.get)
        if nsg is None:
            return None
        rules = [_rule(r, default=False) for r in (nsg.security_rules or [])]
        rules += [_rule(r, default=True) for r in (nsg.default_security_rules or [])]
        return NsgFacts(
            id=str(nsg.id),
            name=str(nsg.name),
            rules=tuple(rules),
            subnet_ids=_ids(getattr(nsg, "subnets", None)),
        )

    async def vnets_in(self, subscription: str, resource_group: str) -> list[str]:
        network = self._network(subscription)
        try:
            return [
                str(v.id)
                async for v in network.virtual_networks.list(
                    resource_group, api_version=self._versions.network
                )
            ]
        except ResourceNotFoundError:
            return []
        except AzureError as exc:
            raise _read_error(exc, f"VNets in {resource_group}") from None

    # --- the way out -----------------------------------------------------------------------------

    async def route_table(self, route_table_id: str) -> RouteTableFacts | None:
        table = await self._network_get(route_table_id, lambda network: network.route_tables.get)
        if table is None:
            return None
        routes = tuple(
            RouteFacts(
                name=str(r.name or ""),
                address_prefix=str(getattr(r, "address_prefix", "") or ""),
                next_hop_type=_text(getattr(r, "next_hop_type", None)),
                next_hop_ip=getattr(r, "next_hop_ip_address", None) or None,
            )
            for r in (getattr(table, "routes", None) or [])
        )
        return RouteTableFacts(
            id=str(table.id or route_table_id),
            name=str(table.name or name_of(route_table_id)),
            routes=routes,
            disable_bgp_route_propagation=bool(getattr(table, "disable_bgp_route_propagation", False)),
        )

    async def nat_gateway(self, nat_gateway_id: str) -> NatGatewayFacts | None:
        gateway = await self._network_get(nat_gateway_id, lambda network: network.nat_gateways.get)
        if gateway is None:
            return None
        return NatGatewayFacts(
            id=str(gateway.id or nat_gateway_id),
            name=str(gateway.name or name_of(nat_gateway_id)),
            provisioning_state=_text(getattr(gateway, "provisioning_state", None)),
            public_ip_ids=_ids(getattr(gateway, "public_ip_addresses", None)),
            public_ip_prefix_ids=_ids(getattr(gateway, "public_ip_prefixes", None)),
        )

    async def firewalls(self, subscription: str) -> list[FirewallFacts]:
        network = self._network(subscription)
        try:
            return [
                _firewall(f)
                async for f in network.azure_firewalls.list_all(api_version=self._versions.network)
            ]
        except AzureError as exc:
            raise _read_error(exc, f"Azure Firewalls in subscription {subscription}") from None

    async def firewall_policy(self, policy_id: str) -> FirewallPolicyFacts | None:
        policy = await self._network_get(policy_id, lambda network: network.firewall_policies.get)
        if policy is None:
            return None
        rid = parse(policy_id)
        network = self._network(rid.subscription)
        try:
            groups = [
                g
                async for g in network.firewall_policy_rule_collection_groups.list(
                    rid.resource_group, rid.name, api_version=self._versions.network
                )
            ]
        except AzureError as exc:
            raise _read_error(exc, f"rule collection groups of {rid.name}") from None
        dns = getattr(policy, "dns_settings", None)
        proxy = getattr(dns, "enable_proxy", None)
        return FirewallPolicyFacts(
            id=str(policy.id or policy_id),
            name=str(policy.name or rid.name),
            base_policy_id=_id_of(getattr(policy, "base_policy", None)),
            dns_proxy=None if proxy is None else bool(proxy),
            rules=tuple(rule for group in groups for rule in _policy_rules(group)),
        )

    async def ip_group(self, ip_group_id: str) -> tuple[str, ...] | None:
        group = await self._network_get(ip_group_id, lambda network: network.ip_groups.get)
        if group is None:
            return None
        return tuple(str(a) for a in (getattr(group, "ip_addresses", None) or []))

    # --- private endpoints -----------------------------------------------------------------------

    async def private_endpoint(self, endpoint_id: str) -> PrivateEndpointFacts | None:
        endpoint = await self._network_get(endpoint_id, lambda network: network.private_endpoints.get)
        return None if endpoint is None else _endpoint(endpoint)

    async def private_endpoints_in(self, subscription: str) -> list[PrivateEndpointFacts]:
        network = self._network(subscription)
        try:
            return [
                _endpoint(e)
                async for e in network.private_endpoints.list_by_subscription(
                    api_version=self._versions.network
                )
            ]
        except AzureError as exc:
            raise _read_error(exc, f"private endpoints in subscription {subscription}") from None

    async def zone_groups(self, endpoint_id: str) -> tuple[ZoneGroupFacts, ...]:
        rid = parse(endpoint_id)
        network = self._network(rid.subscription)
        try:
            groups = [
                g
                async for g in network.private_dns_zone_groups.list(
                    rid.name, rid.resource_group, api_version=self._versions.network
                )
            ]
        except ResourceNotFoundError:
            return ()
        except AzureError as exc:
            raise _read_error(exc, f"private DNS zone groups of {rid.name}") from None
        return tuple(_zone_group(g) for g in groups)

    # --- private DNS -----------------------------------------------------------------------------

    async def zone(self, zone_id: str) -> ZoneFacts | None:
        rid = parse(zone_id)
        dns = self._dns(rid.subscription)
        zone = await _read(dns.private_zones.get(rid.resource_group, rid.name), zone_id)
        if zone is None:
            return None
        try:
            links = [link async for link in dns.virtual_network_links.list(rid.resource_group, rid.name)]
        except AzureError as exc:
            raise _read_error(exc, f"virtual network links of {rid.name}") from None
        return ZoneFacts(id=str(zone.id), name=str(zone.name), links=tuple(_link(link) for link in links))

    async def zones_in(self, subscription: str, resource_group: str) -> list[str]:
        dns = self._dns(subscription)
        try:
            return [str(z.id) async for z in dns.private_zones.list_by_resource_group(resource_group)]
        except ResourceNotFoundError:
            return []
        except AzureError as exc:
            raise _read_error(exc, f"private DNS zones in {resource_group}") from None

    async def a_record(self, zone_id: str, relative_name: str) -> tuple[str, ...] | None:
        rid = parse(zone_id)
        dns = self._dns(rid.subscription)
        record = await _read(
            dns.record_sets.get(rid.resource_group, rid.name, "A", relative_name),
            f"{zone_id}/A/{relative_name}",
        )
        if record is None:
            return None
        return tuple(str(a.ipv4_address) for a in (record.a_records or []) if a.ipv4_address)

    async def create_link(self, zone_id: str, vnet_id: str, name: str) -> ZoneLinkFacts:
        rid = parse(zone_id)
        dns = self._dns(rid.subscription)
        body = VirtualNetworkLink(
            location="global",
            properties=VirtualNetworkLinkProperties(
                virtual_network=SubResource(id=vnet_id), registration_enabled=False
            ),
        )
        try:
            # IfMissing: a link made meanwhile by someone else is never overwritten.
            poller = await dns.virtual_network_links.begin_create_or_update(
                rid.resource_group, rid.name, name, body, match_condition=MatchConditions.IfMissing
            )
            link = await poller.result()
        except AzureError as exc:
            raise _read_error(exc, f"link {name} in {rid.name}") from None
        return _link(link)

    # --- AKS -------------------------------------------------------------------------------------

    async def cluster(self, cluster_id: str) -> AksFacts | None:
        rid = parse(cluster_id)
        aks = self._client(ContainerServiceClient, rid.subscription)
        cluster = await _read(aks.managed_clusters.get(rid.resource_group, rid.name), cluster_id)
        if cluster is None:
            return None
        access = getattr(cluster, "api_server_access_profile", None)
        private = bool(getattr(access, "enable_private_cluster", False))
        integrated = bool(getattr(access, "enable_vnet_integration", False))
        return AksFacts(
            id=str(cluster.id or cluster_id),
            name=str(cluster.name or rid.name),
            location=str(cluster.location or ""),
            private=private,
            private_fqdn=getattr(cluster, "private_fqdn", None),
            public_fqdn=getattr(cluster, "fqdn", None),
            private_dns_zone=getattr(access, "private_dns_zone", None) if private else None,
            node_resource_group=getattr(cluster, "node_resource_group", None),
            node_subnet_ids=tuple(
                str(p.vnet_subnet_id) for p in (cluster.agent_pool_profiles or []) if p.vnet_subnet_id
            ),
            api_server_subnet_id=getattr(access, "subnet_id", None) if integrated else None,
        )

    # --- compute ---------------------------------------------------------------------------------

    async def vm_sizes(self, subscription: str, location: str) -> dict[str, SizeOffer]:
        compute = self._client(ComputeManagementClient, subscription)
        offers: dict[str, SizeOffer] = {}
        try:
            async for sku in compute.resource_skus.list(
                filter=f"location eq '{location}'", api_version=self._versions.resource_skus
            ):
                if getattr(sku, "resource_type", None) != "virtualMachines" or not sku.name:
                    continue
                offers[sku.name.lower()] = SizeOffer(_restriction(sku, location))
        except AzureError as exc:
            raise _read_error(exc, f"resource SKUs in {location}") from None
        return offers

    async def image(self, subscription: str, location: str, reference: str) -> ImageFacts:
        parts = reference.split(":")
        if len(parts) != 4:
            return ImageFacts(reference, checked=False)
        publisher, offer, sku, version = parts
        compute = self._client(ComputeManagementClient, subscription)
        try:
            if version.lower() == "latest":
                found = await compute.virtual_machine_images.list(
                    location,
                    publisher,
                    offer,
                    sku,
                    top=1,
                    orderby="name desc",
                    api_version=self._versions.compute,
                )
                newest = found[0].name if found else None
                return ImageFacts(reference, checked=True, found=newest is not None, resolved_version=newest)
            image = await compute.virtual_machine_images.get(
                location, publisher, offer, sku, version, api_version=self._versions.compute
            )
            return ImageFacts(reference, checked=True, found=True, resolved_version=image.name)
        except ResourceNotFoundError:
            return ImageFacts(reference, checked=True, found=False)
        except AzureError as exc:
            raise _read_error(exc, f"image {reference}") from None

    async def close(self) -> None:
        await self._clients.close()


async def _read(call: Awaitable[T], what: str) -> T | None:
    try:
        return await call
    except ResourceNotFoundError:
        return None
    except AzureError as exc:
        raise _read_error(exc, what) from None


def _read_error(exc: AzureError, what: str) -> ReadError:
    """ReadError naming the failure; TransientReadError when retrying may help."""
    status = exc.status_code if isinstance(exc, HttpResponseError) else None
    transient = (
        status in RETRYABLE_STATUS
        if status is not None
        else isinstance(exc, (ServiceRequestError, ServiceResponseError))
    )
    return (TransientReadError if transient else ReadError)(_why(exc, what))


def _why(exc: AzureError, what: str) -> str:
    if isinstance(exc, HttpResponseError):
        error = getattr(exc, "error", None)
        code = getattr(error, "code", None) or exc.reason or ""
        status = exc.status_code or ""
        return f"{status} {code}".strip() + f" reading {what}"
    return f"{type(exc).__name__} reading {what}: {exc.message if hasattr(exc, 'message') else exc}"


def _text(value: Any) -> str:
    if isinstance(value, Enum):
        return str(value.value)
    return "" if value is None else str(value)


def _peering(peering: Any) -> PeeringFacts:
    remote = getattr(peering, "remote_virtual_network", None)
    space = getattr(peering, "remote_address_space", None)
    access = getattr(peering, "allow_virtual_network_access", None)
    return PeeringFacts(
        id=str(peering.id or ""),
        name=str(peering.name or ""),
        remote_vnet_id=str(getattr(remote, "id", "") or ""),
        state=_text(peering.peering_state),
        sync_level=_text(getattr(peering, "peering_sync_level", None)) or "FullyInSync",
        allow_virtual_network_access=True if access is None else bool(access),
        remote_prefixes=tuple(getattr(space, "address_prefixes", None) or ()),
    )


def _rule(rule: Any, *, default: bool) -> NsgRule:
    def many(single: Any, several: Any) -> tuple[str, ...]:
        values = [single] if single else []
        return tuple(str(v) for v in [*values, *(several or [])])

    return NsgRule(
        name=str(rule.name or ""),
        priority=int(rule.priority or 0),
        direction=_text(rule.direction),
        access=_text(rule.access),
        protocol=_text(rule.protocol) or "*",
        sources=many(rule.source_address_prefix, rule.source_address_prefixes),
        destinations=many(rule.destination_address_prefix, rule.destination_address_prefixes),
        destination_ports=many(rule.destination_port_range, rule.destination_port_ranges),
        default=default,
        source_ports=many(rule.source_port_range, rule.source_port_ranges) or ("*",),
        source_asgs=tuple(str(g.id) for g in (rule.source_application_security_groups or []) if g.id),
        destination_asgs=tuple(
            str(g.id) for g in (rule.destination_application_security_groups or []) if g.id
        ),
    )


def _id_of(reference: Any) -> str | None:
    found = getattr(reference, "id", None)
    return str(found) if found else None


def _ids(references: Any) -> tuple[str, ...]:
    return tuple(str(r.id) for r in (references or []) if getattr(r, "id", None))


def _strings(values: Any) -> tuple[str, ...]:
    return tuple(_text(v) for v in (values or []) if v is not None)


def _firewall(firewall: Any) -> FirewallFacts:
    addresses = [
        str(c.private_ip_address)
        for c in (getattr(firewall, "ip_configurations", None) or [])
        if getattr(c, "private_ip_address", None)
    ]
    hub = getattr(getattr(firewall, "hub_ip_addresses", None), "private_ip_address", None)
    if hub:
        addresses.append(str(hub))
    extra = getattr(firewall, "additional_properties", None) or {}
    proxy = next((str(v) for k, v in extra.items() if k.lower() == "network.dns.enableproxy"), "")
    rules = [
        _classic_rule(rule, collection, "application")
        for collection in (getattr(firewall, "application_rule_collections", None) or [])
        for rule in (collection.rules or [])
    ]
    rules += [
        _classic_rule(rule, collection, "network")
        for collection in (getattr(firewall, "network_rule_collections", None) or [])
        for rule in (collection.rules or [])
    ]
    return FirewallFacts(
        id=str(firewall.id or ""),
        name=str(firewall.name or ""),
        private_ips=tuple(addresses),
        policy_id=_id_of(getattr(firewall, "firewall_policy", None)),
        dns_proxy=proxy.lower() == "true",
        rules=tuple(rules),
    )


def _classic_rule(rule: Any, collection: Any, kind: Literal["application", "network"]) -> FirewallRule:
    action = getattr(getattr(collection, "action", None), "type", None)
    return FirewallRule(
        kind=kind,
        name=str(rule.name or ""),
        action=_text(action),
        collection=str(collection.name or ""),
        collection_priority=int(getattr(collection, "priority", None) or 0),
        **_rule_fields(rule, kind),
    )


def _policy_rules(group: Any) -> list[FirewallRule]:
    found = []
    for collection in getattr(group, "rule_collections", None) or []:
        # NAT collections translate inbound connections; a runner's outbound one never meets them.
        if _text(getattr(collection, "rule_collection_type", None)) != "FirewallPolicyFilterRuleCollection":
            continue
        action = _text(getattr(getattr(collection, "action", None), "type", None))
        for rule in getattr(collection, "rules", None) or []:
            rule_type = _text(getattr(rule, "rule_type", None))
            if rule_type not in ("ApplicationRule", "NetworkRule"):
                continue
            kind: Literal["application", "network"] = (
                "application" if rule_type == "ApplicationRule" else "network"
            )
            found.append(
                FirewallRule(
                    kind=kind,
                    name=str(rule.name or ""),
                    action=action,
                    collection=str(collection.name or ""),
                    collection_priority=int(getattr(collection, "priority", None) or 0),
                    group=str(group.name or ""),
                    group_priority=int(getattr(group, "priority", None) or 0),
                    **_rule_fields(rule, kind),
                )
            )
    return found


def _rule_fields(rule: Any, kind: str) -> dict[str, Any]:
    """What application and network rules name, classic or policy (the field names agree)."""
    if kind == "application":
        protocols = tuple(
            (_text(getattr(p, "protocol_type", None)), int(getattr(p, "port", None) or 0))
            for p in (getattr(rule, "protocols", None) or [])
        )
        return {
            "sources": _strings(getattr(rule, "source_addresses", None)),
            "source_ip_groups": _strings(getattr(rule, "source_ip_groups", None)),
            "app_protocols": protocols,
            "target_fqdns": _strings(getattr(rule, "target_fqdns", None)),
            "fqdn_tags": _strings(getattr(rule, "fqdn_tags", None)),
            "web_categories": _strings(getattr(rule, "web_categories", None)),
        }
    # Classic network rules call them `protocols`, policy network rules `ipProtocols`.
    ip_protocols = getattr(rule, "ip_protocols", None) or getattr(rule, "protocols", None)
    return {
        "sources": _strings(getattr(rule, "source_addresses", None)),
        "source_ip_groups": _strings(getattr(rule, "source_ip_groups", None)),
        "ip_protocols": _strings(ip_protocols),
        "destination_addresses": _strings(getattr(rule, "destination_addresses", None)),
        "destination_ip_groups": _strings(getattr(rule, "destination_ip_groups", None)),
        "destination_fqdns": _strings(getattr(rule, "destination_fqdns", None)),
        "destination_ports": _strings(getattr(rule, "destination_ports", None)),
    }


def _endpoint(endpoint: Any) -> PrivateEndpointFacts:
    connections = [
        _connection(c, manual=False)
        for c in (getattr(endpoint, "private_link_service_connections", None) or [])
    ]
    connections += [
        _connection(c, manual=True)
        for c in (getattr(endpoint, "manual_private_link_service_connections", None) or [])
    ]
    return PrivateEndpointFacts(
        id=str(endpoint.id or ""),
        name=str(endpoint.name or ""),
        subnet_id=_id_of(getattr(endpoint, "subnet", None)) or "",
        connections=tuple(connections),
        dns_configs=tuple(
            (str(c.fqdn or ""), _strings(getattr(c, "ip_addresses", None)))
            for c in (getattr(endpoint, "custom_dns_configs", None) or [])
        ),
        provisioning_state=_text(getattr(endpoint, "provisioning_state", None)) or "Succeeded",
    )


def _connection(connection: Any, *, manual: bool) -> EndpointConnection:
    state = getattr(connection, "private_link_service_connection_state", None)
    return EndpointConnection(
        name=str(connection.name or ""),
        target_id=str(getattr(connection, "private_link_service_id", None) or ""),
        group_ids=_strings(getattr(connection, "group_ids", None)),
        status=_text(getattr(state, "status", None)),
        description=str(getattr(state, "description", None) or ""),
        manual=manual,
    )


def _zone_group(group: Any) -> ZoneGroupFacts:
    configs = tuple(
        ZoneConfigFacts(
            name=str(config.name or ""),
            zone_id=str(getattr(config, "private_dns_zone_id", None) or ""),
            records=tuple(
                ZoneGroupRecord(
                    name=str(getattr(r, "record_set_name", None) or ""),
                    fqdn=str(getattr(r, "fqdn", None) or ""),
                    addresses=_strings(getattr(r, "ip_addresses", None)),
                    record_type=_text(getattr(r, "record_type", None)) or "A",
                )
                for r in (getattr(config, "record_sets", None) or [])
            ),
        )
        for config in (getattr(group, "private_dns_zone_configs", None) or [])
    )
    return ZoneGroupFacts(id=str(group.id or ""), name=str(group.name or ""), configs=configs)


def _link(link: Any) -> ZoneLinkFacts:
    vnet = getattr(link, "virtual_network", None)
    return ZoneLinkFacts(
        id=str(link.id or ""),
        name=str(link.name or ""),
        vnet_id=str(getattr(vnet, "id", "") or ""),
        state=_text(getattr(link, "virtual_network_link_state", None)),
        provisioning_state=_text(getattr(link, "provisioning_state", None)),
    )


def _restriction(sku: Any, location: str) -> str | None:
    for restriction in sku.restrictions or []:
        if _text(getattr(restriction, "type", None)) != "Location":
            continue
        # The model names the field `values_property`: `values` is the Mapping method.
        if location.lower() in [v.lower() for v in (getattr(restriction, "values_property", None) or [])]:
            return _text(getattr(restriction, "reason_code", None)) or "restricted"
    return None
