"""`nsg-isolation`: runner VMs reach nothing in the network but what their jobs need, and accept nothing.

A job runs arbitrary code next to the cluster. Azure's default rules (AllowVnetInBound and
AllowVnetOutBound, priority 65000) let it open any port on anything in the VNet and its peers:
kubelets (10250), NodePorts, internal load balancers, pods, the other runners. What the runner
subnet's NSG should leave open is the API server of every pool using the subnet (they share the
NSG; infra/ opens TCP 443 only), the private endpoints those pools list, and, when the VNet has
custom DNS servers in it, DNS to them; and nothing inbound from the VNet, the subnet itself
included. Runner VMs never accept connections; the answers to their own connections come back
through the NSG's flow records, which need no inbound rule.

The verdict is a warning, not a failure: an over-open network is a standing risk, but jobs still
deploy, and the provisioning gate holds back only pools that fail (as it should for a network that
would waste every VM). Rules are evaluated as Azure does (`nsg_flows`): by priority, first match
wins, Azure's default rules included. Not modelled: NSGs on the runner NICs (the service creates
them without one), Virtual Network Manager admin rules, on-premises and UDR prefixes in the
`VirtualNetwork` tag.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from runner_fleet.ports.preflight import CheckResult
from runner_fleet.preflight.checks.common import passed, warned
from runner_fleet.preflight.checks.nsg_flows import (
    ALL_ADDRESSES,
    ALL_PORTS,
    ALL_PROTOCOLS,
    HTTPS,
    Box,
    Decision,
    Flows,
    Network,
    Ranges,
    decide,
    describe_addresses,
    describe_ports,
    describe_protocols,
    protocol_range,
    spans_of,
)
from runner_fleet.preflight.topology import NsgFacts, PoolTopology

ISOLATION = "nsg-isolation"
DNS = Ranges(((53, 53),))
SOURCE, DESTINATION, DESTINATION_PORT, PROTOCOL = 0, 2, 3, 4  # Box.sides() order


def check_isolation(topology: PoolTopology) -> CheckResult | None:
    subnet, runner = topology.subnet.value, topology.runner_vnet.value
    if subnet is None or runner is None:
        return None
    vnet_prefixes = [*runner.address_prefixes, *(p for peer in runner.peerings for p in peer.remote_prefixes)]
    network = Network(spans_of(vnet_prefixes))
    if topology.nsg is None:
        needed = ", ".join(_needed(topology))
        return warned(
            ISOLATION,
            subnet.id,
            f"{subnet.name} has no NSG: runner VMs reach every address of the VNet and its peers on any "
            "port, and accept connections from them",
            f"associate an NSG with {subnet.name} that denies VirtualNetwork both ways"
            + (f" and allows outbound TCP 443 to {needed} first" if needed else ""),
        )
    nsg = topology.nsg.value
    if nsg is None:
        return None  # nsg-inbound says why it could not be read
    runners = spans_of(subnet.address_prefixes)
    outbound = _outbound_findings(nsg, topology, network, runners)
    inbound = _inbound_findings(nsg, network, runners)
    parts, fixes = [], []
    if outbound:
        parts.append(_sentence(outbound[0], "lets runner VMs reach", DESTINATION, vnet_prefixes))
        fixes.append(_outbound_fix(outbound[0], topology))
    if inbound:
        parts.append(_sentence(inbound[0], "admits connections to runner VMs from", SOURCE, vnet_prefixes))
        fixes.append(_inbound_fix(inbound[0]))
    if not parts:
        return passed(ISOLATION, nsg.id, _passing_message(nsg, topology))
    return warned(ISOLATION, nsg.id, f"{nsg.name}: " + "; ".join(parts), "; ".join(fixes))


def _outbound_findings(
    nsg: NsgFacts, topology: PoolTopology, network: Network, runners: Ranges
) -> list[Decision]:
    start = Flows((Box(runners, ALL_PORTS, ALL_ADDRESSES, ALL_PORTS, ALL_PROTOCOLS),))
    concern = Box(runners, ALL_PORTS, network.vnet, ALL_PORTS, ALL_PROTOCOLS)
    allowed = _permitted(topology, network, runners)
    return _offending(decide(nsg.rules, "Outbound", start, network), concern, allowed)


def _inbound_findings(nsg: NsgFacts, network: Network, runners: Ranges) -> list[Decision]:
    start = Flows((Box(ALL_ADDRESSES, ALL_PORTS, runners, ALL_PORTS, ALL_PROTOCOLS),))
    concern = Box(network.vnet, ALL_PORTS, runners, ALL_PORTS, ALL_PROTOCOLS)
    return _offending(decide(nsg.rules, "Inbound", start, network), concern, Flows())


def _offending(decisions: Sequence[Decision], concern: Box, permitted: Flows) -> list[Decision]:
    found = []
    for decision in decisions:
        if decision.rule.access.lower() != "allow":
            continue
        flows = (decision.flows & concern) - permitted
        if flows:
            found.append(Decision(decision.rule, flows))
    return found


def _permitted(topology: PoolTopology, network: Network, runners: Ranges) -> Flows:
    """What runners need in the VNet: their API servers, and DNS to DNS servers inside the VNet.

    An API server address is taken whole: a private endpoint or the API server's internal load
    balancer forwards only the ports it serves (443), so other ports to it reach nothing.
    """
    boxes = [Box(runners, ALL_PORTS, _api_servers(topology), ALL_PORTS, ALL_PROTOCOLS)]
    if _unknown(topology):
        # An API server whose address is unknown could be anywhere in the VNet: HTTPS is not judged.
        boxes.append(Box(runners, ALL_PORTS, network.vnet, HTTPS, protocol_range("Tcp")))
    runner = topology.runner_vnet.value
    dns_servers = spans_of(runner.dns_servers) if runner is not None else Ranges()
    boxes.append(Box(runners, ALL_PORTS, dns_servers, DNS, ALL_PROTOCOLS))
    return Flows(tuple(b for b in boxes if b))


def _api_servers(topology: PoolTopology) -> Ranges:
    return spans_of(_needed(topology))


def _needed(topology: PoolTopology) -> list[str]:
    """The private API server addresses of the pools in the subnet, this pool's own first, then the
    addresses of the private endpoints they list."""
    found: list[str] = []
    endpoints = [
        a for check in topology.endpoints for pe in check.endpoints.value or () for a in pe.addresses
    ]
    for address in [
        *_own(topology),
        *topology.subnet_api_addresses,
        *endpoints,
        *topology.subnet_endpoint_addresses,
    ]:
        if _is_private(address) and address not in found:
            found.append(address)
    return found


def _own(topology: PoolTopology) -> tuple[str, ...]:
    return (topology.api_addresses.value or ()) if topology.api_addresses is not None else ()


def _unknown(topology: PoolTopology) -> bool:
    """Some pool's API server address is not known (or is public: a DNS fault, not an address)."""
    own = _own(topology)
    return bool(topology.subnet_unresolved) or (bool(own) and not any(_is_private(a) for a in own))


def _is_private(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_private
    except ValueError:
        return False


def _sentence(decision: Decision, verb: str, side: int, context: Sequence[str]) -> str:
    """One sentence naming the rule and what it lets through (each dimension's values taken together)."""
    rule, flows = decision.rule, decision.flows
    where = describe_addresses(flows.union(side), context)
    what = f"{describe_protocols(flows.union(PROTOCOL))} on {describe_ports(flows.union(DESTINATION_PORT))}"
    return f"rule '{rule.name}' (priority {rule.priority}) {verb} {where} with {what}"


def _outbound_fix(decision: Decision, topology: PoolTopology) -> str:
    rule, needed = decision.rule, ", ".join(_needed(topology))
    if rule.default:
        deny = f"add an outbound rule denying VirtualNetwork at a priority below {rule.priority}"
        return f"{deny}, after one allowing TCP 443 to {needed}" if needed else deny
    if needed:
        return f"narrow outbound rule '{rule.name}' to TCP 443 to {needed}, or delete it"
    return f"delete outbound rule '{rule.name}' (no pool in this subnet needs the VNet)"


def _inbound_fix(decision: Decision) -> str:
    rule = decision.rule
    if rule.default:
        return f"add an inbound rule denying VirtualNetwork at a priority below {rule.priority}"
    return f"delete inbound rule '{rule.name}' (runner VMs serve nothing)"


def _passing_message(nsg: NsgFacts, topology: PoolTopology) -> str:
    needed = ", ".join(_needed(topology))
    reach = f"nothing in the VNet but {needed}" if needed else "nothing in the VNet"
    if _unknown(topology):
        reach += " and HTTPS (an API server address is unknown)"
    return f"{nsg.name} lets runner VMs reach {reach}, and admits no connection from it"
