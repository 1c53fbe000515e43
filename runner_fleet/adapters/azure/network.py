"""The preflight's `TopologyReader` on Resource Manager: network, private DNS, AKS and compute reads.

Clients are built per subscription (a cluster's VNet and zone are often in another one), with the
same connection settings, pinned API versions and single retry layer as the compute adapter. Every
read maps 404 to None and any other failure to `ReadError` naming the status and ARM error code, so
a missing role assignment shows up as what it is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any, TypeVar

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
from runner_fleet.preflight.ids import parse
from runner_fleet.preflight.reader import ReadError, TransientReadError
from runner_fleet.preflight.topology import (
    AksFacts,
    ImageFacts,
    NsgFacts,
    NsgRule,
    PeeringFacts,
    SizeOffer,
    SubnetFacts,
    VNetFacts,
    ZoneFacts,
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

    # --- network ---------------------------------------------------------------------------------

    async def vnet(self, vnet_id: str) -> VNetFacts | None:
        rid = parse(vnet_id)
        network = self._network(rid.subscription)
        vnet = await _read(
            network.virtual_networks.get(rid.resource_group, rid.name, api_version=self._versions.network),
            vnet_id,
        )
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
        return SubnetFacts(
            id=str(subnet.id),
            name=str(subnet.name),
            address_prefixes=prefixes,
            delegations=tuple(str(d.service_name) for d in (subnet.delegations or []) if d.service_name),
            nsg_id=str(nsg.id) if nsg is not None and nsg.id else None,
            ip_configuration_ids=tuple(str(c.id) for c in (subnet.ip_configurations or []) if c.id),
        )

    async def nsg(self, nsg_id: str) -> NsgFacts | None:
        rid = parse(nsg_id)
        network = self._network(rid.subscription)
        nsg = await _read(
            network.network_security_groups.get(
                rid.resource_group, rid.name, api_version=self._versions.network
            ),
            nsg_id,
        )
        if nsg is None:
            return None
        rules = [_rule(r, default=False) for r in (nsg.security_rules or [])]
        rules += [_rule(r, default=True) for r in (nsg.default_security_rules or [])]
        return NsgFacts(id=str(nsg.id), name=str(nsg.name), rules=tuple(rules))

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
