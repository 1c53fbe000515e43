"""Network resources a VM brings along (inline NICs with private addresses, their public IPs) and the
rendering of the network read endpoints, whose derived fields (a subnet's ipConfigurations, a VNet's
subnets) are computed from the store so they can never disagree with it.

Private addresses are allocated as Azure does it: the first four addresses of a subnet and the last
one are reserved, and dynamic addresses are handed out lowest first."""

from __future__ import annotations

import copy
import ipaddress
import random
import uuid
from typing import Any

from simulator.arm.errors import ArmError
from simulator.arm.ids import ResourceId
from simulator.arm.store import (
    A_RECORD_TYPE,
    LINK_TYPE,
    NIC_TYPE,
    PEERING_TYPE,
    PIP_TYPE,
    PRIVATE_ENDPOINT_TYPE,
    SUBNET_TYPE,
    Resource,
    ResourceStore,
    arm_body,
)
from simulator.arm.vm_network import NicPlan

RESERVED_AT_START = 4
RESERVED_AT_END = 1


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
            address = _lowest_free(subnet, taken)
            extra[subnet_id.key].add(address)
            chosen[(nic.id.key, ip_name)] = address
    return chosen


def _lowest_free(subnet: Resource, taken: set[str]) -> str:
    prefix = subnet.properties["addressPrefix"]
    network = ipaddress.ip_network(prefix, strict=False)
    first = int(network.network_address) + RESERVED_AT_START
    for value in range(first, int(network.broadcast_address) - RESERVED_AT_END + 1):
        if str(ipaddress.ip_address(value)) not in taken:
            return str(ipaddress.ip_address(value))
    raise ArmError(
        400,
        "SubnetIsFull",
        f"Subnet {subnet.id.name} with address prefix {prefix} does not have enough capacity for "
        "1 IP addresses.",
    )


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
        ip_id = plan.id.child("ipConfigurations", ip_name)
        ip_configurations.append(arm_body(ip_id, f"{NIC_TYPE}/ipConfigurations", ip_props))
    properties = {
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
    }
    return arm_body(plan.id, NIC_TYPE, properties, location=location, kind="Regular")


def public_ip_body(pip_id: ResourceId, location: str, sku: str, nic_ip_config: ResourceId) -> dict[str, Any]:
    properties = {
        "provisioningState": "Succeeded",
        "publicIPAddressVersion": "IPv4",
        "publicIPAllocationMethod": "Static",
        "ipAddress": f"20.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}",
        "ipConfiguration": {"id": str(nic_ip_config)},
    }
    return arm_body(pip_id, PIP_TYPE, properties, location=location, sku={"name": sku, "tier": "Regional"})


def attach(nic: Resource, vm_id: ResourceId | None) -> None:
    if vm_id is None:
        nic.properties.pop("virtualMachine", None)
    else:
        nic.properties["virtualMachine"] = {"id": str(vm_id)}


def render_plain(resource: Resource) -> dict[str, Any]:
    body = copy.deepcopy(resource.body)
    body["etag"] = resource.etag
    return body


def render_subnet(store: ResourceStore, subnet: Resource) -> dict[str, Any]:
    body = render_plain(subnet)
    users = []
    for nic in store.list(NIC_TYPE, subscription=subnet.id.subscription):
        for ip_cfg in nic.properties.get("ipConfigurations", []):
            if subnet.id.same_as(ip_cfg.get("properties", {}).get("subnet", {}).get("id", "")):
                users.append({"id": ip_cfg["id"]})
    props = body.setdefault("properties", {})
    if users:
        props["ipConfigurations"] = users
    endpoints = [
        {"id": str(pe.id)}
        for pe in store.list(PRIVATE_ENDPOINT_TYPE, subscription=subnet.id.subscription)
        if subnet.id.same_as((pe.properties.get("subnet") or {}).get("id") or "-")
    ]
    if endpoints:
        props["privateEndpoints"] = endpoints
    return body


def render_vnet(store: ResourceStore, vnet: Resource) -> dict[str, Any]:
    body = render_plain(vnet)
    props = body.setdefault("properties", {})
    props["subnets"] = [render_subnet(store, s) for s in store.list(SUBNET_TYPE, parent=vnet.id)]
    props["virtualNetworkPeerings"] = [
        render_peering(store, p) for p in store.list(PEERING_TYPE, parent=vnet.id)
    ]
    return body


def render_peering(store: ResourceStore, peering: Resource) -> dict[str, Any]:
    """A peering with the remote VNet's address space as it is now (Azure copies it on sync)."""
    body = render_plain(peering)
    props = body.setdefault("properties", {})
    remote = store.get(props.get("remoteVirtualNetwork", {}).get("id", ""))
    if remote is not None:
        space = copy.deepcopy(remote.properties.get("addressSpace", {"addressPrefixes": []}))
        props["remoteAddressSpace"] = space
        props["remoteVirtualNetworkAddressSpace"] = copy.deepcopy(space)
    return body


def render_nsg(store: ResourceStore, nsg: Resource) -> dict[str, Any]:
    """An NSG with the subnets it is associated with (derived, so it cannot disagree with them)."""
    body = render_plain(nsg)
    users = [
        {"id": str(s.id)}
        for s in store
        if s.type.lower() == SUBNET_TYPE.lower()
        and nsg.id.same_as(s.properties.get("networkSecurityGroup", {}).get("id", "") or "-")
    ]
    if users:
        body.setdefault("properties", {})["subnets"] = users
    return body


def render_zone(store: ResourceStore, zone: Resource) -> dict[str, Any]:
    """A private DNS zone with its counts of record sets (the SOA included) and links, derived."""
    body = render_plain(zone)
    links = store.list(LINK_TYPE, parent=zone.id)
    props = body.setdefault("properties", {})
    props["numberOfRecordSets"] = 1 + len(store.list(A_RECORD_TYPE, parent=zone.id))
    props["numberOfVirtualNetworkLinks"] = len(links)
    props["numberOfVirtualNetworkLinksWithRegistration"] = sum(
        bool(link.properties.get("registrationEnabled")) for link in links
    )
    return body


def _mac() -> str:
    return "-".join(f"{b:02X}" for b in [0x00, 0x0D, 0x3A, *(random.randint(0, 255) for _ in range(3))])
