"""Discovering the way out (`egress`): the subnet's route table, then either its NAT gateway (when
public traffic goes to the Internet) or the Azure Firewall owning the virtual appliance address
public traffic is routed to (found by listing the firewalls of the runner VNet's subscription and of
the peered VNet holding the address), its policy chain and the IP groups its rules name. Nothing is
read for a way out the routes do not take.
"""

from __future__ import annotations

from dataclasses import replace

from runner_fleet.preflight.checks.routing import internet_path
from runner_fleet.preflight.ids import name_of, parse, same
from runner_fleet.preflight.lookup import holds, lookup
from runner_fleet.preflight.reader import ReadError, TopologyReader
from runner_fleet.preflight.topology import FirewallFacts, FirewallRule, Lookup, PoolTopology, VNetFacts

# How far up a chain of base policies discovery follows (Azure allows a parent's parent).
MAX_POLICY_LEVELS = 4


async def with_egress(reader: TopologyReader, topology: PoolTopology) -> PoolTopology:
    subnet, runner = topology.subnet.value, topology.runner_vnet.value
    if subnet is None or runner is None:
        return topology
    table = None
    if subnet.route_table_id:
        table = await lookup(subnet.route_table_id, reader.route_table(subnet.route_table_id))
        if table.value is None:
            return replace(topology, route_table=table)
    local = [*runner.address_prefixes, *(p for peer in runner.peerings for p in peer.remote_prefixes)]
    hop = internet_path(local, table.value if table is not None else None).main
    kind = hop.next_hop_type.lower()
    nat = firewall = None
    if kind == "internet" and subnet.nat_gateway_id:
        nat = await lookup(subnet.nat_gateway_id, reader.nat_gateway(subnet.nat_gateway_id))
    elif kind == "virtualappliance" and hop.next_hop_ip:
        firewall = await _firewall(reader, hop.next_hop_ip, runner, subnet.id)
    return replace(topology, route_table=table, nat_gateway=nat, firewall=firewall)


async def _firewall(
    reader: TopologyReader, address: str, runner: VNetFacts, subnet_id: str
) -> Lookup[FirewallFacts]:
    """The Azure Firewall whose private address is `address` (missing: no firewall has it)."""
    subscriptions = [parse(subnet_id).subscription]
    for peering in runner.peerings:
        if holds(peering.remote_prefixes, address) and peering.remote_vnet_id:
            subscriptions.append(parse(peering.remote_vnet_id).subscription)
    errors: list[str] = []
    for subscription in dict.fromkeys(s.lower() for s in subscriptions):
        try:
            found = await reader.firewalls(subscription)
        except ReadError as exc:
            errors.append(str(exc))
            continue
        owner = next((f for f in found if address in f.private_ips), None)
        if owner is not None:
            return Lookup(owner.id, await _with_policies(reader, owner))
    return Lookup(address, error=errors[0] if errors else None)


async def _with_policies(reader: TopologyReader, firewall: FirewallFacts) -> FirewallFacts:
    """The firewall with its policy chain's rules (a base policy's at level 1, and so on), its DNS
    proxy setting, and the IP groups its rules name."""
    rules: list[FirewallRule] = list(firewall.rules)
    policies: list[str] = []
    unread: list[str] = []
    dns_proxy: bool | None = None
    policy_id = firewall.policy_id
    for level in range(MAX_POLICY_LEVELS):
        if policy_id is None or any(same(policy_id, p) for p in policies):
            break
        name = name_of(policy_id)
        try:
            policy = await reader.firewall_policy(policy_id)
        except ReadError as exc:
            unread.append(f"policy {name}: {exc}")
            break
        if policy is None:
            unread.append(f"policy {name} not found")
            break
        policies.append(policy.id)
        rules += [replace(rule, level=level) for rule in policy.rules]
        if dns_proxy is None:  # the nearest policy that says, the firewall's own first
            dns_proxy = policy.dns_proxy
        policy_id = policy.base_policy_id
    groups: list[tuple[str, tuple[str, ...]]] = []
    wanted = {g.lower() for rule in rules for g in (*rule.source_ip_groups, *rule.destination_ip_groups)}
    for group in sorted(wanted):
        try:
            addresses = await reader.ip_group(group)
        except ReadError:
            continue  # the rules naming it are judged "cannot tell"
        if addresses is not None:
            groups.append((group, addresses))
    return replace(
        firewall,
        rules=tuple(rules),
        policies=tuple(policies),
        dns_proxy=firewall.dns_proxy if dns_proxy is None else dns_proxy,
        ip_groups=tuple(groups),
        unread=(*firewall.unread, *unread),
    )
