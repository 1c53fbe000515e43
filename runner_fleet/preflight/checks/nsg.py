"""`nsg-inbound`: the subnet's NSG has no rule that admits traffic from the Internet.
`nsg-outbound`: the NSG does not deny outbound TCP 443 to the API server's address.

Rules are evaluated as Azure does: by priority, the first rule matching the flow decides; the
`VirtualNetwork` tag covers the VNet's address space and the address spaces of its peered VNets.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from runner_fleet.ports.preflight import CheckResult
from runner_fleet.preflight.checks.common import failed, passed, unreadable, warned
from runner_fleet.preflight.checks.nsg_flows import port, ports
from runner_fleet.preflight.topology import NsgFacts, NsgRule, PoolTopology

INBOUND = "nsg-inbound"
OUTBOUND = "nsg-outbound"
ANYWHERE = frozenset({"*", "any", "internet", "0.0.0.0/0", "::/0"})
API_PORT = 443

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def check_inbound(topology: PoolTopology) -> CheckResult | None:
    subnet = topology.subnet.value
    if subnet is None:
        return None
    if topology.nsg is None:
        return passed(INBOUND, subnet.id, f"no NSG on {subnet.name}; runner VMs get no public IP")
    if topology.nsg.value is None:
        if topology.nsg.error is not None:
            return unreadable(INBOUND, topology.nsg, "NSG")
        return failed(
            INBOUND, topology.nsg.resource, "the subnet's NSG does not exist", "re-associate an NSG"
        )
    nsg = topology.nsg.value
    inbound = _ordered(nsg, "Inbound")
    for rule in inbound:
        if rule.access != "Allow" or rule.default:
            continue
        open_to = [s for s in rule.sources if s.lower() in ANYWHERE]
        public = [s for s in rule.sources if _is_public_range(s)]
        if not open_to and not public:
            continue
        if _shadowed(rule, inbound):
            continue
        flow = f"{_protocol(rule)} {', '.join(rule.destination_ports) or '*'}"
        if open_to:
            return failed(
                INBOUND,
                nsg.id,
                f"{nsg.name} rule '{rule.name}' (priority {rule.priority}) allows inbound {flow} from "
                f"{', '.join(open_to)}",
                f"delete rule '{rule.name}' or restrict its source to your VNet or a bastion range",
            )
        return warned(
            INBOUND,
            nsg.id,
            f"{nsg.name} rule '{rule.name}' (priority {rule.priority}) allows inbound {flow} from "
            f"public range {', '.join(public)}",
            f"make sure {', '.join(public)} is yours, or restrict rule '{rule.name}' to private ranges",
        )
    return passed(INBOUND, nsg.id, f"{nsg.name} admits no inbound traffic from the Internet")


def check_outbound(topology: PoolTopology) -> CheckResult | None:
    subnet, runner = topology.subnet.value, topology.runner_vnet.value
    addresses = topology.api_addresses.value if topology.api_addresses is not None else None
    if (
        subnet is None
        or runner is None
        or not addresses
        or topology.nsg is None
        or topology.nsg.value is None
    ):
        return None
    nsg = topology.nsg.value
    address = addresses[0]
    peered = [p for peering in runner.peerings for p in peering.remote_prefixes]
    vnet_space = _networks([*runner.address_prefixes, *peered])
    subnet_space = _networks(subnet.address_prefixes)
    ip = ipaddress.ip_address(address)
    for rule in _ordered(nsg, "Outbound"):
        if rule.protocol.lower() not in ("*", "tcp") or not ports(rule.destination_ports).overlaps(
            port(API_PORT)
        ):
            continue
        if not _matches_address(rule.destinations, ip, vnet_space):
            continue
        if not _matches_source(rule.sources, subnet_space):
            continue
        if rule.access == "Deny" and rule.default:
            # Only an address outside the VNet's reach meets DenyAllOutBound: `peering` explains that.
            break
        if rule.access == "Deny":
            return failed(
                OUTBOUND,
                nsg.id,
                f"{nsg.name} rule '{rule.name}' (priority {rule.priority}) denies outbound TCP {API_PORT} "
                f"to the API server {address}",
                f"allow outbound TCP {API_PORT} to {address} with a rule of priority below {rule.priority}, "
                f"or narrow '{rule.name}'",
            )
        return passed(OUTBOUND, nsg.id, f"outbound TCP {API_PORT} to {address} allowed by rule '{rule.name}'")
    return passed(OUTBOUND, nsg.id, f"no rule of {nsg.name} denies outbound TCP {API_PORT} to {address}")


def _ordered(nsg: NsgFacts, direction: str) -> list[NsgRule]:
    return sorted((r for r in nsg.rules if r.direction == direction), key=lambda r: r.priority)


def _shadowed(rule: NsgRule, rules: Sequence[NsgRule]) -> bool:
    """A deny-everything rule of higher priority means the allow rule never decides."""
    return any(
        other.priority < rule.priority
        and other.access == "Deny"
        and other.protocol == "*"
        and any(s.lower() in ANYWHERE for s in other.sources)
        and "*" in other.destination_ports
        and any(d.lower() in ("*", "any", "virtualnetwork") for d in other.destinations)
        for other in rules
    )


def _protocol(rule: NsgRule) -> str:
    return "any protocol" if rule.protocol == "*" else rule.protocol.upper()


def _is_public_range(text: str) -> bool:
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return network.is_global and network.prefixlen > 0


def _networks(prefixes: Sequence[str]) -> list[Network]:
    found = []
    for prefix in prefixes:
        try:
            found.append(ipaddress.ip_network(prefix, strict=False))
        except ValueError:
            continue
    return found


def _matches_address(
    prefixes: Sequence[str], ip: ipaddress.IPv4Address | ipaddress.IPv6Address, vnet: list[Network]
) -> bool:
    for prefix in prefixes:
        lowered = prefix.lower()
        if lowered in ("*", "any"):
            return True
        if lowered == "virtualnetwork":
            if any(ip in net for net in vnet):
                return True
            continue
        if lowered == "internet":
            if ip.is_global:
                return True
            continue
        if any(ip in net for net in _networks([prefix])):
            return True
    return False


def _matches_source(prefixes: Sequence[str], subnet: list[Network]) -> bool:
    for prefix in prefixes:
        lowered = prefix.lower()
        if lowered in ("*", "any", "virtualnetwork"):
            return True
        for net in _networks([prefix]):
            if any(s.version == net.version and s.overlaps(net) for s in subnet):
                return True
    return False
