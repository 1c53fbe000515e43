"""Read (and for some, delete) endpoints for the resources a VM brings along and the network it
lands in: NICs, public IPs, managed disks, VNets with their subnets and peerings, NSGs, AKS clusters,
private DNS zones with their A record sets and virtual network links, and the way out and to
private endpoints: NAT gateways, route tables with their routes, Azure
Firewalls, firewall policies with their rule collection groups, IP groups, private endpoints with
their DNS zone groups, container registries and key vaults.

Each top-level type is one `ResourceType` entry; the children of a VNet or a zone are one
`_register_children` call each. Writing private DNS links: `routes_privatedns`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from simulator.arm.errors import ArmError
from simulator.arm.ids import ResourceId
from simulator.arm.network import (
    render_nsg,
    render_peering,
    render_plain,
    render_subnet,
    render_vnet,
    render_zone,
)
from simulator.arm.network_render import (
    render_firewall_policy,
    render_ip_group,
    render_nat_gateway,
    render_registry,
    render_route,
    render_route_table,
    render_vault,
)
from simulator.arm.routing import ArmCall, Router, json_response, page
from simulator.arm.state import ArmState
from simulator.arm.store import Resource, ResourceStore

Render = Callable[[ResourceStore, Resource], dict[str, object]]
Guard = Callable[[ResourceStore, Resource], None]


@dataclass(frozen=True)
class ResourceType:
    namespace: str
    type_name: str
    render: Render
    delete_guard: Guard | None = None  # None: not deletable here
    list_in_subscription: bool = True

    @property
    def full_type(self) -> str:
        return f"{self.namespace}/{self.type_name}"


def _plain(_: ResourceStore, resource: Resource) -> dict[str, object]:
    return render_plain(resource)


def _nic_guard(store: ResourceStore, nic: Resource) -> None:
    vm = nic.properties.get("virtualMachine")
    if vm:
        raise ArmError(
            400,
            "NicInUse",
            f"Network Interface {nic.id} is used by existing resource {vm['id']}. In order to delete the "
            "network interface, it must be dissociated from the resource. "
            "To learn more, see aka.ms/deletenic.",
        )
    for ip_cfg in nic.properties.get("ipConfigurations", []):
        pip_ref = ip_cfg.get("properties", {}).get("publicIPAddress")
        pip = store.get(pip_ref["id"]) if pip_ref else None
        if pip is not None:
            pip.properties.pop("ipConfiguration", None)


def _pip_guard(store: ResourceStore, pip: Resource) -> None:
    ip_config = pip.properties.get("ipConfiguration")
    if ip_config and store.get(ResourceId.parse(ip_config["id"]).parent or ip_config["id"]) is not None:
        raise ArmError(
            400,
            "PublicIPAddressInUse",
            f"Public IP address {pip.id} can not be deleted since it is still allocated to resource "
            f"{ip_config['id']}.",
        )


def _disk_guard(_: ResourceStore, disk: Resource) -> None:
    if disk.body.get("managedBy"):
        raise ArmError(
            409,
            "OperationNotAllowed",
            f"Disk {disk.id.name} is attached to VM {disk.body['managedBy']}.",
        )


TYPES = (
    ResourceType("Microsoft.Network", "networkInterfaces", _plain, _nic_guard),
    ResourceType("Microsoft.Network", "publicIPAddresses", _plain, _pip_guard),
    ResourceType("Microsoft.Compute", "disks", _plain, _disk_guard),
    ResourceType("Microsoft.Network", "virtualNetworks", render_vnet),
    ResourceType("Microsoft.Network", "networkSecurityGroups", render_nsg),
    ResourceType("Microsoft.ContainerService", "managedClusters", _plain),
    ResourceType("Microsoft.Network", "privateDnsZones", render_zone),
    ResourceType("Microsoft.Network", "natGateways", render_nat_gateway),
    ResourceType("Microsoft.Network", "routeTables", render_route_table),
    ResourceType("Microsoft.Network", "azureFirewalls", _plain),
    ResourceType("Microsoft.Network", "firewallPolicies", render_firewall_policy),
    ResourceType("Microsoft.Network", "ipGroups", render_ip_group),
    ResourceType("Microsoft.Network", "privateEndpoints", _plain),
    ResourceType("Microsoft.ContainerRegistry", "registries", render_registry),
    ResourceType("Microsoft.KeyVault", "vaults", render_vault),
)
CHILDREN: tuple[tuple[str, str, Render], ...] = (
    ("virtualNetworks", "subnets", render_subnet),
    ("virtualNetworks", "virtualNetworkPeerings", render_peering),
    ("privateDnsZones", "A", _plain),
    ("privateDnsZones", "virtualNetworkLinks", _plain),
    ("routeTables", "routes", render_route),
    ("firewallPolicies", "ruleCollectionGroups", _plain),
    ("privateEndpoints", "privateDnsZoneGroups", _plain),
)


def register(router: Router, state: ArmState) -> None:
    for spec in TYPES:
        _register_type(router, state, spec)
    for parent_type, kind, render in CHILDREN:
        _register_children(router, state, parent_type, kind, render)


def _listing(call: ArmCall, state: ArmState, found: list[Resource], render: Render) -> web.StreamResponse:
    items = [(r.id.key, render(state.store, r)) for r in found]
    return json_response(200, page(call, items, state.config.page_size))


def _register_type(router: Router, state: ArmState, spec: ResourceType) -> None:
    collection = "/subscriptions/{sub}/resourceGroups/{rg}/providers/" + spec.full_type
    item = collection + "/{name}"

    def rid(call: ArmCall) -> ResourceId:
        p = call.params
        return ResourceId.resource(p["sub"], p["rg"], spec.namespace, spec.type_name, p["name"])

    async def get_item(call: ArmCall) -> web.StreamResponse:
        return json_response(200, spec.render(state.store, state.require_resource(rid(call))))

    async def list_items(call: ArmCall) -> web.StreamResponse:
        sub, rg = call.params["sub"], call.params.get("rg")
        state.require_scope(sub, rg)
        found = state.store.list(spec.full_type, subscription=sub, resource_group=rg)
        return _listing(call, state, found, spec.render)

    async def delete_item(call: ArmCall) -> web.StreamResponse:
        state.require_resource_group(call.params["sub"], call.params["rg"])
        found = state.store.get(rid(call))
        if found is None:
            return json_response(204, None)
        assert spec.delete_guard is not None
        spec.delete_guard(state.store, found)
        state.store.delete(found.id)
        return json_response(200, None)

    kind = spec.full_type
    router.add("GET", item, get_item, resource_type=kind)
    router.add("GET", collection, list_items, resource_type=kind)
    if spec.list_in_subscription:
        router.add("GET", "/subscriptions/{sub}/providers/" + kind, list_items, resource_type=kind)
    if spec.delete_guard is not None:
        router.add("DELETE", item, delete_item, resource_type=kind)


def _register_children(router: Router, state: ArmState, parent_type: str, kind: str, render: Render) -> None:
    parent_path = (
        f"/subscriptions/{{sub}}/resourceGroups/{{rg}}/providers/Microsoft.Network/{parent_type}/{{parent}}"
    )
    child_type = f"Microsoft.Network/{parent_type}/{kind}"

    def parent(call: ArmCall) -> Resource:
        p = call.params
        return state.require_resource(
            ResourceId.resource(p["sub"], p["rg"], "Microsoft.Network", parent_type, p["parent"])
        )

    async def get_child(call: ArmCall) -> web.StreamResponse:
        child = state.require_resource(parent(call).id.child(kind, call.params["name"]))
        return json_response(200, render(state.store, child))

    async def list_children(call: ArmCall) -> web.StreamResponse:
        return _listing(call, state, state.store.list(child_type, parent=parent(call).id), render)

    router.add("GET", f"{parent_path}/{kind}/{{name}}", get_child, resource_type=child_type)
    router.add("GET", f"{parent_path}/{kind}", list_children, resource_type=child_type)
