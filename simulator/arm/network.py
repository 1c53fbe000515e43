"""Network resources a VM brings along (inline NICs, their public IPs) and the rendering of the
network read endpoints, whose derived fields (a subnet's ipConfigurations, a VNet's subnets) are
computed from the store so they can never disagree with it."""

from __future__ import annotations

import copy
import random
import uuid
from typing import Any

from simulator.arm import ipam
from simulator.arm.ids import ResourceId
from simulator.arm.resource_types import NIC_TYPE, PEERING_TYPE, PIP_TYPE, SUBNET_TYPE, VNET_TYPE
from simulator.arm.store import Resource, ResourceStore
from simulator.arm.vm_network import NicPlan

__all__ = ["NIC_TYPE", "PIP_TYPE"]


def ips_in_use(store: ResourceStore, subnet_id: ResourceId) -> set[str]:
    used = set()
    for nic in store.list(NIC_TYPE, subscription=subnet_id.subscription):
        for ip_cfg in nic.properties.get("ipConfigurations", []):
            props = ip_cfg.get("properties", {})
            if subnet_id.same_as(props.get("subnet", {}).get("id", "")) and props.get("privateIPAddress"):
                used.add(props["privateIPAddress"])
    return used


def allocate_addresses(store: ResourceStore, nics: tuple[NicPlan, ...]) -> dict[tuple[str, str], str]:
    """Pick a private IP for every new IP configuration (SubnetIsFull when a subnet has none left)."""
    chosen: dict[tuple[str, str], str] = {}
    extra: dict[str, set[str]] = {}
    for nic in nics:
        if not nic.inline:
            continue
        existing = store.get(nic.id)
        if existing is not None:  # an inline NIC left behind earlier is reused with its address
            continue
        for ip_name, subnet_id in nic.ip_configurations:
            subnet = store.get(subnet_id)
            assert subnet is not None
            taken = ips_in_use(store, subnet_id) | extra.setdefault(subnet_id.key, set())
            address = ipam.allocate(subnet.id.name, subnet.properties["addressPrefix"], taken)[0]
            extra[subnet_id.key].add(address)
            chosen[(nic.id.key, ip_name)] = address
    return chosen


def nic_body(
    plan: NicPlan,
    location: str,
    vm_id: ResourceId,
    addresses: dict[tuple[str, str], str],
    public_ip_id: ResourceId | None,
) -> dict[str, Any]:
    ip_configurations = []
    for index, (ip_name, subnet_id) in enumerate(plan.ip_configurations):
        ip_props: dict[str, Any] = {
            "provisioningState": "Succeeded",
            "privateIPAddress": addresses[(plan.id.key, ip_name)],
            "privateIPAllocationMethod": "Dynamic",
            "subnet": {"id": str(subnet_id)},
            "primary": index == 0,
            "privateIPAddressVersion": "IPv4",
        }
        if public_ip_id is not None and index == 0:
            ip_props["publicIPAddress"] = {"id": str(public_ip_id)}
        ip_configurations.append(
            {
                "name": ip_name,
                "id": str(plan.id.child("ipConfigurations", ip_name)),
                "type": f"{NIC_TYPE}/ipConfigurations",
                "properties": ip_props,
            }
        )
    return {
        "name": plan.id.name,
        "id": str(plan.id),
        "type": NIC_TYPE,
        "location": location,
        "kind": "Regular",
        "properties": {
            "provisioningState": "Succeeded",
            "resourceGuid": str(uuid.uuid4()),
            "ipConfigurations": ip_configurations,
            "dnsSettings": {"dnsServers": [], "appliedDnsServers": []},
            "macAddress": _mac(),
            "enableAcceleratedNetworking": plan.accelerated_networking,
            "enableIPForwarding": False,
            "primary": plan.primary,
            "virtualMachine": {"id": str(vm_id)},
            "hostedWorkloads": [],
            "tapConfigurations": [],
            "nicType": "Standard",
            "auxiliaryMode": "None",
            "auxiliarySku": "None",
        },
    }


def public_ip_body(pip_id: ResourceId, location: str, sku: str, nic_ip_config: ResourceId) -> dict[str, Any]:
    return {
        "name": pip_id.name,
        "id": str(pip_id),
        "type": PIP_TYPE,
        "location": location,
        "sku": {"name": sku, "tier": "Regional"},
        "properties": {
            "provisioningState": "Succeeded",
            "publicIPAddressVersion": "IPv4",
            "publicIPAllocationMethod": "Static",
            "ipAddress": f"20.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}",
            "ipConfiguration": {"id": str(nic_ip_config)},
        },
    }


def attach(nic: Resource, vm_id: ResourceId | None) -> None:
    if vm_id is None:
        nic.properties.pop("virtualMachine", None)
    else:
        nic.properties["virtualMachine"] = {"id": str(vm_id)}


def render_subnet(store: ResourceStore, subnet: Resource) -> dict[str, Any]:
    body = copy.deepcopy(subnet.body)
    users = []
    for nic in store.list(NIC_TYPE, subscription=subnet.id.subscription):
        for ip_cfg in nic.properties.get("ipConfigurations", []):
            if subnet.id.same_as(ip_cfg.get("properties", {}).get("subnet", {}).get("id", "")):
                users.append({"id": ip_cfg["id"]})
    props = body.setdefault("properties", {})
    if users:
        props["ipConfigurations"] = users
    body["etag"] = subnet.etag
    return body


def render_vnet(store: ResourceStore, vnet: Resource) -> dict[str, Any]:
    body = copy.deepcopy(vnet.body)
    body["etag"] = vnet.etag
    props = body.setdefault("properties", {})
    props["subnets"] = [render_subnet(store, s) for s in store.list(SUBNET_TYPE, parent=vnet.id)]
    props["virtualNetworkPeerings"] = [
        render_peering(store, p) for p in store.list(PEERING_TYPE, parent=vnet.id)
    ]
    return body


def render_peering(store: ResourceStore, peering: Resource) -> dict[str, Any]:
    """A peering with the remote VNet's address space as it is now (Azure copies it on sync)."""
    body = copy.deepcopy(peering.body)
    body["etag"] = peering.etag
    props = body.setdefault("properties", {})
    remote = store.get(props.get("remoteVirtualNetwork", {}).get("id", ""))
    if remote is not None:
        space = copy.deepcopy(remote.properties.get("addressSpace", {"addressPrefixes": []}))
        props["remoteAddressSpace"] = space
        props["remoteVirtualNetworkAddressSpace"] = copy.deepcopy(space)
    return body


def render_nsg(store: ResourceStore, nsg: Resource) -> dict[str, Any]:
    """An NSG with the subnets it is associated with (derived, so it cannot disagree with them)."""
    body = copy.deepcopy(nsg.body)
    body["etag"] = nsg.etag
    users = [
        {"id": str(s.id)}
        for s in store
        if s.type.lower() == SUBNET_TYPE.lower()
        and nsg.id.same_as(s.properties.get("networkSecurityGroup", {}).get("id", "") or "-")
    ]
    if users:
        body.setdefault("properties", {})["subnets"] = users
    return body


def render_plain(resource: Resource) -> dict[str, Any]:
    body = copy.deepcopy(resource.body)
    body["etag"] = resource.etag
    return body


def is_vnet(resource: Resource) -> bool:
    return resource.type.lower() == VNET_TYPE.lower()


def _mac() -> str:
    return "-".join(f"{b:02X}" for b in [0x00, 0x0D, 0x3A, *(random.randint(0, 255) for _ in range(3))])
