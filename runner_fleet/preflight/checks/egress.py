"""`egress`: the runner subnet has a way out to the pool's forge hosts on TCP 443.

A runner registers with its forge, takes jobs and sends logs over HTTPS to public hosts; without a
way out it boots, never registers, and its VM is wasted until the boot timeout. The way out is
decided by routing (`routing`): the route public traffic takes leads to
- the Internet: through the subnet's NAT gateway (which needs a public IP or prefix), or else
  through implicit default outbound access, which Azure is retiring (subnets made with newer API
  versions are private: `defaultOutboundAccess: false`) and which a private subnet does not have;
- a virtual appliance: an Azure Firewall whose rules are evaluated for each forge host (`firewall`),
  or another appliance whose rules cannot be read;
- the virtual network gateway (forced tunnelling): what lets traffic out there cannot be read;
- None: dropped.
Load balancer outbound rules and instance-level public IPs, Azure's other ways out, are never a
runner's: the service puts runner VMs in no backend pool and gives them no public IP.

The subnet's NSG must let TCP 443 to the Internet out too. With a route table, the VirtualNetwork
service tag holds the routes' prefixes ("address prefixes used on user-defined routes": service
tags overview), so with 0.0.0.0/0 routed to a firewall a rule denying VirtualNetwork denies the
Internet as well; the evaluation here includes that.
"""

from __future__ import annotations

from collections.abc import Sequence

from runner_fleet.ports.preflight import CheckResult
from runner_fleet.preflight.checks import firewall as rules
from runner_fleet.preflight.checks.common import failed, passed, unreadable, warned
from runner_fleet.preflight.checks.nsg_flows import (
    ALL_PORTS,
    HTTPS,
    Box,
    Flows,
    Network,
    Ranges,
    decide,
    describe_addresses,
    protocol_range,
    spans_of,
)
from runner_fleet.preflight.checks.routing import PUBLIC_IPV4, Hop, InternetPath, internet_path
from runner_fleet.preflight.ids import name_of
from runner_fleet.preflight.topology import (
    FirewallFacts,
    Lookup,
    NatGatewayFacts,
    PoolTopology,
    SubnetFacts,
    VNetFacts,
)

EGRESS = "egress"
PROBE = "run `runner-fleet doctor --probe` to try the hosts from the subnet"
NO_OTHER_WAY = "runner VMs get no public IP and join no load balancer, so nothing else carries their traffic"


def check_egress(topology: PoolTopology) -> CheckResult | None:
    subnet, runner = topology.subnet.value, topology.runner_vnet.value
    if subnet is None or runner is None:
        return None
    table = topology.route_table
    if table is not None and table.value is None:
        if table.error is not None:
            return unreadable(EGRESS, table, "route table")
        return failed(
            EGRESS,
            table.resource,
            f"{subnet.name}'s route table {name_of(table.resource)} does not exist",
            f"associate an existing route table with {subnet.name}, or none",
        )
    path = internet_path(_local_prefixes(runner), table.value if table is not None else None)
    verdict = _by_hop(path.main, subnet, topology)
    if verdict.status != "pass":
        return verdict
    blocked = _nsg_blocks(topology, subnet, runner)
    if blocked is not None:
        return blocked
    caveat = _caveat(path, verdict)
    return caveat or verdict


def _local_prefixes(runner: VNetFacts) -> list[str]:
    return [*runner.address_prefixes, *(p for peering in runner.peerings for p in peering.remote_prefixes)]


def _hosts(topology: PoolTopology) -> str:
    names = [h.name for h in topology.forge_hosts]
    if len(names) <= 2:
        return " and ".join(names) or "the forge"
    return f"{names[0]}, {names[1]} and {len(names) - 2} more"


def _by_hop(hop: Hop, subnet: SubnetFacts, topology: PoolTopology) -> CheckResult:
    kind = hop.next_hop_type.lower()
    routed = f"route {hop.route_names} sends Internet traffic from {subnet.name} to {hop.describe()}"
    if kind == "internet":
        return _internet(subnet, topology)
    if kind == "virtualappliance":
        return _appliance(hop, subnet, topology, routed)
    if kind == "virtualnetworkgateway":
        return warned(
            EGRESS,
            topology.route_table.resource if topology.route_table else subnet.id,
            f"{routed} (forced tunnelling): what lets {_hosts(topology)} out there cannot be read",
            f"make sure the on-premises path allows TCP 443 to {_hosts(topology)}; {PROBE}",
        )
    return failed(
        EGRESS,
        topology.route_table.resource if topology.route_table else subnet.id,
        f"{routed}: traffic to {_hosts(topology)} is dropped and runners never register",
        "route 0.0.0.0/0 to your firewall, or delete the route and attach a NAT gateway with a public IP "
        f"to {subnet.name}",
    )


def _internet(subnet: SubnetFacts, topology: PoolTopology) -> CheckResult:
    nat = topology.nat_gateway
    if nat is not None:
        return _nat(nat, subnet, topology)
    attach = f"attach a NAT gateway with a public IP to {subnet.name} (or route 0.0.0.0/0 to a firewall)"
    if subnet.default_outbound_access is False:
        return failed(
            EGRESS,
            subnet.id,
            f"{subnet.name} has no way out to {_hosts(topology)}: no NAT gateway, no route to a firewall, "
            f"and it is a private subnet (defaultOutboundAccess false); {NO_OTHER_WAY}: runners never "
            "register",
            attach,
        )
    return warned(
        EGRESS,
        subnet.id,
        f"{subnet.name} reaches {_hosts(topology)} only through implicit default outbound access (no NAT "
        "gateway, no route to a firewall), which Azure is retiring: new subnets are private",
        f"{attach}, then set defaultOutboundAccess to false",
    )


def _nat(nat: Lookup[NatGatewayFacts], subnet: SubnetFacts, topology: PoolTopology) -> CheckResult:
    if nat.error is not None:
        return unreadable(EGRESS, nat, "NAT gateway")
    gateway = nat.value
    if gateway is None:
        return failed(
            EGRESS,
            nat.resource,
            f"{subnet.name}'s NAT gateway {name_of(nat.resource)} does not exist",
            f"attach an existing NAT gateway with a public IP to {subnet.name}",
        )
    addresses = len(gateway.public_ip_ids) + len(gateway.public_ip_prefix_ids)
    if addresses == 0:
        return failed(
            EGRESS,
            gateway.id,
            f"NAT gateway {gateway.name} of {subnet.name} has no public IP address or prefix, so it carries "
            f"no traffic; {NO_OTHER_WAY}: runners never register",
            f"add a Standard public IP address (or prefix) to {gateway.name}",
        )
    state = gateway.provisioning_state or "Succeeded"
    if state.lower() != "succeeded":
        verdict = failed if state.lower() in ("failed", "deleting") else warned
        return verdict(
            EGRESS,
            gateway.id,
            f"NAT gateway {gateway.name} of {subnet.name} is {state}",
            f"wait for {gateway.name} to be Succeeded, or update it again if it failed",
        )
    what = _count(gateway.public_ip_ids, "public IP") + _count(gateway.public_ip_prefix_ids, "prefix")
    return passed(
        EGRESS,
        gateway.id,
        f"{subnet.name} goes out to {_hosts(topology)} through NAT gateway {gateway.name} ({what})",
    )


def _count(items: Sequence[str], what: str) -> str:
    if not items:
        return ""
    return f"{len(items)} {what}" + ("s" if len(items) > 1 else "")


def _appliance(hop: Hop, subnet: SubnetFacts, topology: PoolTopology, routed: str) -> CheckResult:
    found = topology.firewall
    resource = topology.route_table.resource if topology.route_table else subnet.id
    if found is None or (found.value is None and found.error is None):
        return warned(
            EGRESS,
            resource,
            f"{routed}; cannot read the rules of the appliance at {hop.next_hop_ip} (not an Azure Firewall)",
            f"make sure the appliance allows TCP 443 to {_hosts(topology)}; {PROBE}",
        )
    if found.value is None:
        return warned(
            EGRESS,
            resource,
            f"{routed}; cannot tell whether it is an Azure Firewall: {found.error}",
            f"grant the provisioner's identity Reader on the firewall and its policy; or {PROBE}",
        )
    return _firewall(found.value, subnet, topology)


def _firewall(firewall: FirewallFacts, subnet: SubnetFacts, topology: PoolTopology) -> CheckResult:
    owner = f"policy {name_of(firewall.policy_id)}" if firewall.policy_id else f"firewall {firewall.name}"
    named = f"firewall {firewall.name}" + (
        f" (policy {name_of(firewall.policy_id)})" if firewall.policy_id else ""
    )
    if firewall.policy_id and not firewall.policies:
        return warned(
            EGRESS,
            firewall.policy_id,
            f"Internet traffic from {subnet.name} goes to {named}, whose rules cannot be read: "
            + "; ".join(firewall.unread),
            f"grant the provisioner's identity Reader on {name_of(firewall.policy_id)}; or {PROBE}",
        )
    sources = subnet.address_prefixes
    verdicts = [rules.evaluate(firewall, sources, host) for host in topology.forge_hosts]
    denied = [v for v in verdicts if v.outcome == "denied"]
    essential = [v for v in denied if v.host.need != "runner-download"]
    resource = firewall.policy_id or firewall.id
    source = ", ".join(sources)
    if essential and not firewall.unread:
        return failed(
            EGRESS,
            resource,
            f"{named} denies TCP 443 from {source} to {_denials(essential)}: runners "
            + ("never register" if any(v.host.need == "essential" for v in essential) else "cannot run jobs"),
            f"add an application rule to {owner}: source {source}, Https:443, target FQDNs "
            f"{', '.join(v.host.name for v in denied)}" + _before(denied),
        )
    unknown = [v for v in verdicts if v.outcome == "unknown"]
    if unknown or firewall.unread:
        # Rules that could not be read (a base policy's come first) may change any verdict.
        doubt = "; ".join(firewall.unread) if firewall.unread else unknown[0].doubt
        doubtful = [v for v in verdicts if v.outcome != "allowed"] if firewall.unread else unknown
        hosts = ", ".join(v.host.name for v in doubtful) or _hosts(topology)
        return warned(
            EGRESS,
            resource,
            f"cannot tell whether {named} lets {hosts} through: {doubt}",
            f"allow Https:443 to {hosts} from {source} in {owner} explicitly; or {PROBE}",
        )
    if denied:
        return warned(
            EGRESS,
            resource,
            f"{named} denies TCP 443 from {source} to {_denials(denied)}: only a prebaked runner image works",
            f"add an application rule to {owner}: source {source}, Https:443, target FQDNs "
            f"{', '.join(v.host.name for v in denied)}; or use a prebaked image",
        )
    return passed(
        EGRESS,
        resource,
        f"Internet traffic from {subnet.name} goes to {named}, which allows TCP 443 to {_hosts(topology)}",
    )


def _denials(verdicts: Sequence[rules.Verdict]) -> str:
    """'github.com, api.github.com (no rule allows them); x (rule 'r' in collection 'c')'."""
    groups: dict[str, list[str]] = {}
    for verdict in verdicts:
        why = f"denied by rule {rules.label(verdict.rule)}" if verdict.rule else "no rule allows"
        groups.setdefault(why, []).append(verdict.host.name)
    return "; ".join(f"{', '.join(hosts)} ({why})" for why, hosts in groups.items())


def _before(denied: Sequence[rules.Verdict]) -> str:
    deciding = [v.rule for v in denied if v.rule is not None]
    if not deciding:
        return ""
    rule = deciding[0]
    return (
        f", in a collection processed before '{rule.collection}' (priority {rule.collection_priority}), "
        f"or narrow rule '{rule.name}'"
    )


def _nsg_blocks(topology: PoolTopology, subnet: SubnetFacts, runner: VNetFacts) -> CheckResult | None:
    """The NSG's verdict on TCP 443 to public addresses, when it denies some."""
    nsg = topology.nsg.value if topology.nsg is not None else None
    if nsg is None:
        return None
    local = _local_prefixes(runner)
    routes = topology.route_table.value.routes if topology.route_table and topology.route_table.value else ()
    # The VirtualNetwork tag holds the VNet, its peers and the prefixes of the subnet's routes.
    network = Network(spans_of([*local, *(r.address_prefix for r in routes)]))
    public = PUBLIC_IPV4 - spans_of(local)
    start = Flows((Box(spans_of(subnet.address_prefixes), ALL_PORTS, public, HTTPS, protocol_range("Tcp")),))
    denials = [d for d in decide(nsg.rules, "Outbound", start, network) if d.rule.access.lower() == "deny"]
    if not denials:
        return None
    rule = denials[0].rule
    denied = Ranges()
    for decision in denials:
        denied = denied | decision.flows.union(2)
    label = f"{nsg.name} rule '{rule.name}' (priority {rule.priority})"
    if not (public - denied):
        tag = (
            " (with a route table, VirtualNetwork holds the routes' prefixes, 0.0.0.0/0 included)"
            if routes and any(d.lower() == "virtualnetwork" for d in rule.destinations)
            else ""
        )
        return failed(
            EGRESS,
            nsg.id,
            f"{label} denies outbound TCP 443 to the Internet{tag}: runners cannot reach {_hosts(topology)}",
            f"allow outbound TCP 443 to Internet with a rule of priority below {rule.priority}, or narrow "
            f"'{rule.name}' to private ranges",
        )
    return warned(
        EGRESS,
        nsg.id,
        f"{label} denies outbound TCP 443 to {describe_addresses(denied)}: a forge host there is unreachable",
        f"make sure no forge host is in those ranges, or narrow '{rule.name}'",
    )


def _caveat(path: InternetPath, verdict: CheckResult) -> CheckResult | None:
    """Routes sending some public ranges elsewhere than the main way out: a forge address may be there."""
    if path.others:
        other = path.others[0]
        ranges = describe_addresses(other.share)
        return warned(
            EGRESS,
            verdict.resource,
            f"{verdict.message}; but route {other.route_names} sends {ranges} to {other.describe()}: "
            "a forge host there takes that way",
            f"make sure {other.describe()} lets TCP 443 to the forge through, or remove the route; {PROBE}",
        )
    if path.tagged:
        route = path.tagged[0]
        return warned(
            EGRESS,
            verdict.resource,
            f"{verdict.message}; but route '{route.name}' sends service tag {route.address_prefix} to "
            f"{route.next_hop_type}: a forge host in it takes that way",
            f"make sure that way lets TCP 443 to the forge through; {PROBE}",
        )
    return None
