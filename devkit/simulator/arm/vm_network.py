"""Validation of a VM PUT's networkProfile: inline NIC configurations (which need
networkApiVersion) or references to existing NICs, each IP configuration's subnet resolved in the
VM's region."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simulator.arm.api_versions import VM_NETWORK_API_VERSIONS
from simulator.arm.errors import ArmError, invalid_parameter, json_object
from simulator.arm.ids import ResourceId
from simulator.arm.store import Resource, ResourceStore

DELETE_OPTIONS = ("Delete", "Detach")


@dataclass(frozen=True)
class PublicIpPlan:
    name: str
    delete_option: str
    sku: str


@dataclass(frozen=True)
class NicPlan:
    name: str
    id: ResourceId
    primary: bool
    delete_option: str
    inline: bool
    ip_configurations: tuple[tuple[str, ResourceId], ...]  # (ip configuration name, subnet)
    accelerated_networking: bool = False
    public_ip: PublicIpPlan | None = None


def network_plan(
    store: ResourceStore, props: dict[str, Any], rid: ResourceId, location: str
) -> tuple[NicPlan, ...]:
    network = json_object(props.get("networkProfile"), "networkProfile", required=True)
    configs = network.get("networkInterfaceConfigurations") or []
    references = network.get("networkInterfaces") or []
    if not configs and not references:
        raise invalid_parameter("Required parameter 'networkProfile' is missing (null).", "networkProfile")
    if configs and not network.get("networkApiVersion"):
        raise invalid_parameter(
            "The property 'networkApiVersion' must be specified when 'networkInterfaceConfigurations' "
            "is used.",
            "networkProfile.networkApiVersion",
        )
    version = network.get("networkApiVersion")
    if version is not None and str(version) not in VM_NETWORK_API_VERSIONS:
        raise invalid_parameter(
            f"The value '{version}' of parameter 'networkProfile.networkApiVersion' is not valid. "
            f"Allowed values are: {', '.join(VM_NETWORK_API_VERSIONS)}.",
            "networkProfile.networkApiVersion",
        )
    plans = [
        _inline_nic(store, cfg, rid, location, single=len(configs) + len(references) == 1) for cfg in configs
    ]
    plans += [_referenced_nic(store, ref, rid, location) for ref in references]
    if len(plans) > 1 and sum(p.primary for p in plans) != 1:
        raise invalid_parameter(
            "Virtual machine must have exactly one primary network interface when it has more than one.",
            "networkProfile",
        )
    return tuple(plans)


def _inline_nic(store: ResourceStore, cfg: Any, vm: ResourceId, location: str, *, single: bool) -> NicPlan:
    cfg = json_object(cfg, "networkInterfaceConfigurations")
    name = cfg.get("name")
    if not name:
        raise invalid_parameter(
            "Required parameter 'networkInterfaceConfigurations.name' is missing (null).", "name"
        )
    nic_id = ResourceId.resource(
        vm.subscription, vm.resource_group or "", "Microsoft.Network", "networkInterfaces", str(name)
    )
    props = json_object(cfg.get("properties"), "properties")
    delete_option = checked_delete_option(props.get("deleteOption"))
    ip_configs = props.get("ipConfigurations") or []
    if not ip_configs:
        raise invalid_parameter(
            "Network interface configuration must have at least one IP configuration.", "ipConfigurations"
        )
    resolved: list[tuple[str, ResourceId]] = []
    public_ip: PublicIpPlan | None = None
    for raw_ip_cfg in ip_configs:
        ip_cfg = json_object(raw_ip_cfg, "ipConfigurations")
        ip_props = json_object(ip_cfg.get("properties"), "properties")
        subnet_ref = json_object(ip_props.get("subnet"), "subnet", required=True)
        resolved.append(
            (str(ip_cfg.get("name") or "ipconfig1"), _subnet(store, subnet_ref.get("id"), nic_id, location))
        )
        pip = ip_props.get("publicIPAddressConfiguration")
        if pip:
            pip = json_object(pip, "publicIPAddressConfiguration")
            pip_props = json_object(pip.get("properties"), "properties")
            sku = json_object(pip.get("sku"), "sku")
            public_ip = PublicIpPlan(
                name=str(pip.get("name") or f"{name}-pip"),
                delete_option=str(pip_props.get("deleteOption") or "Detach"),
                sku=str(sku.get("name") or "Standard"),
            )
    existing = store.get(nic_id)
    if existing is not None:
        _check_not_in_use(
            existing, vm, " In order to use it for another resource, it must be dissociated first."
        )
    return NicPlan(
        name=str(name),
        id=nic_id,
        primary=bool(props.get("primary", single)),
        delete_option=delete_option,
        inline=True,
        ip_configurations=tuple(resolved),
        accelerated_networking=bool(props.get("enableAcceleratedNetworking", False)),
        public_ip=public_ip,
    )


def _referenced_nic(store: ResourceStore, ref: Any, vm: ResourceId, location: str) -> NicPlan:
    ref = json_object(ref, "networkInterfaces")
    raw_id = str(ref.get("id") or "")
    try:
        nic_id = ResourceId.parse(raw_id)
    except ValueError:
        raise invalid_parameter(
            f"Network interface reference '{raw_id}' is not a valid resource ID.", "networkInterfaces"
        ) from None
    nic = store.get(nic_id)
    if nic is None or nic.body.get("location", "").lower() != location.lower():
        raise _not_found_reference(raw_id, vm)
    _check_not_in_use(nic, vm)
    ref_props = json_object(ref.get("properties"), "properties")
    subnets = tuple(
        (str(c.get("name")), ResourceId.parse(c["properties"]["subnet"]["id"]))
        for c in nic.properties.get("ipConfigurations", [])
    )
    return NicPlan(
        name=nic.id.name,
        id=nic.id,
        primary=bool(ref_props.get("primary", True)),
        delete_option=str(ref_props.get("deleteOption") or "Detach"),
        inline=False,
        ip_configurations=subnets,
    )


def checked_delete_option(value: Any) -> str:
    """A `deleteOption` (Detach when not given)."""
    option = str(value or "Detach")
    if option not in DELETE_OPTIONS:
        raise invalid_parameter(
            f"The value '{option}' of parameter 'deleteOption' is not valid.", "deleteOption"
        )
    return option


def _check_not_in_use(nic: Resource, vm: ResourceId, advice: str = "") -> None:
    attached = nic.properties.get("virtualMachine")
    if attached and not ResourceId.parse(attached["id"]).same_as(vm):
        message = f"Network Interface {nic.id} is used by existing resource {attached['id']}."
        raise ArmError(400, "NicInUse", f"{message} {advice}".rstrip())


def _not_found_reference(raw: Any, referrer: ResourceId) -> ArmError:
    return ArmError(
        400,
        "InvalidResourceReference",
        f"Resource {raw} referenced by resource {referrer} was not found. Please make sure that the "
        "referenced resource exists, and that both resources are in the same region.",
    )


def _subnet(store: ResourceStore, raw: Any, nic_id: ResourceId, location: str) -> ResourceId:
    problem = _not_found_reference(raw, nic_id)
    try:
        subnet_id = ResourceId.parse(str(raw or ""))
    except ValueError:
        raise problem from None
    if subnet_id.subscription.lower() != nic_id.subscription.lower():
        # A NIC can only join a VNet in its own subscription (and an inline NIC is in the VM's).
        raise ArmError(
            400,
            "InvalidResourceReference",
            f"Resource {raw} referenced by resource {nic_id} is in subscription {subnet_id.subscription}; "
            "a network interface can only be assigned to a virtual network in its own subscription "
            f"({nic_id.subscription}).",
        )
    subnet = store.get(subnet_id)
    vnet = store.get(subnet_id.parent) if subnet_id.parent is not None else None
    if (
        subnet is None
        or subnet.type.lower() != "microsoft.network/virtualnetworks/subnets"
        or vnet is None
        or str(vnet.body.get("location", "")).lower() != location.lower()
    ):
        raise problem
    return subnet.id
