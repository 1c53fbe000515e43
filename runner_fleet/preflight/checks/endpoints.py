"""`private-endpoint`: each private endpoint the pool lists (or finds for a listed registry or vault)
is usable from the runner subnet: provisioned, its connection Approved by the resource's owner, in
the runner VNet or one peered with it (Connected), reachable through the subnet's NSG on TCP 443,
and with the A records of its DNS zone group present in the zones with its private addresses.

One result per listed entry, on the entry's resource ID. When a registry or vault has several
endpoints, the first that passes is reported, else the nearest one's problem (in the runner VNet,
then in a peered VNet, then elsewhere). Whether the zones are linked to the runner VNet is
`dns-link`'s to say (the zone groups' zones join the pool's zones with the role `endpoint`).
An endpoint without a zone group has its records managed by hand: they cannot be checked here,
but `runner-fleet doctor --probe` resolves the names from the subnet.

The peering is judged from the runner VNet's side: a peering is Connected only once both sides
exist (an Initiated one has no way back yet), so Connected there means connected both ways.
"""

from __future__ import annotations

from runner_fleet.ports.preflight import CheckResult
from runner_fleet.preflight.checks.common import failed, passed, warned
from runner_fleet.preflight.checks.dns import is_rfc1918
from runner_fleet.preflight.checks.nsg_flows import (
    ALL_PORTS,
    HTTPS,
    Box,
    Flows,
    Network,
    decide,
    protocol_range,
    span_of,
    spans_of,
)
from runner_fleet.preflight.ids import name_of, parse, same, vnet_of_subnet
from runner_fleet.preflight.topology import (
    EndpointCheck,
    Lookup,
    PoolTopology,
    PrivateEndpointFacts,
    SubnetFacts,
    VNetFacts,
    ZoneGroupRecord,
)

PRIVATE_ENDPOINT = "private-endpoint"
_KINDS = {"registries": "container registry", "vaults": "key vault", "privateendpoints": "private endpoint"}


def kind_of(resource_id: str) -> str:
    try:
        return _KINDS.get(parse(resource_id).types[-1].lower(), "resource")
    except (ValueError, IndexError):
        return "resource"


def check_endpoints(topology: PoolTopology) -> list[CheckResult]:
    subnet, runner = topology.subnet.value, topology.runner_vnet.value
    if subnet is None or runner is None:
        return []
    return [_entry(check, topology, subnet, runner) for check in topology.endpoints]


def approved(check: EndpointCheck) -> tuple[PrivateEndpointFacts, ...]:
    """The endpoints found for an entry whose connection (to the listed resource) is Approved."""
    return tuple(
        pe
        for pe in check.endpoints.value or ()
        if any(c.status.lower() == "approved" for c in pe.connections_to(check.target))
    )


def _entry(
    check: EndpointCheck, topology: PoolTopology, subnet: SubnetFacts, runner: VNetFacts
) -> CheckResult:
    found = check.endpoints
    what, name = kind_of(check.entry), name_of(check.entry)
    if found.error is not None:
        return failed(
            PRIVATE_ENDPOINT,
            check.entry,
            f"cannot read the private endpoints of {what} {name}: {found.error}",
            "grant the provisioner's identity Reader on the endpoint's subscription or resource group",
        )
    if found.value is None:
        return failed(
            PRIVATE_ENDPOINT,
            check.entry,
            f"{what} {name} not found",
            "check private_endpoints (subscription, resource group and name)",
        )
    if not found.value:
        where = ", ".join(check.searched)
        return failed(
            PRIVATE_ENDPOINT,
            check.entry,
            f"no private endpoint of {what} {name} found (subscriptions {where}): runners reach it over "
            "its public address, or not at all",
            f"create a private endpoint for {name} in {runner.name} (or a VNet peered with it) with a "
            "private DNS zone group, or list the endpoint's own ID",
        )
    endpoints = sorted(found.value, key=lambda pe: _distance(pe, runner))
    results = [_endpoint(pe, check, topology, subnet, runner) for pe in endpoints]
    for status in ("pass", "warn"):
        for result in results:
            if result.status == status:
                return result
    return results[0]


def _vnet(pe: PrivateEndpointFacts) -> str:
    try:
        return vnet_of_subnet(pe.subnet_id)
    except ValueError:
        return pe.subnet_id or "(no subnet)"


def _distance(pe: PrivateEndpointFacts, runner: VNetFacts) -> int:
    vnet = _vnet(pe)
    if same(vnet, runner.id):
        return 0
    return 1 if any(same(p.remote_vnet_id, vnet) for p in runner.peerings) else 2


def _endpoint(
    pe: PrivateEndpointFacts,
    check: EndpointCheck,
    topology: PoolTopology,
    subnet: SubnetFacts,
    runner: VNetFacts,
) -> CheckResult:
    for problem in (
        _state(pe, check),
        _connection(pe, check),
        _network(pe, check, runner),
        _nsg(pe, check, topology, subnet, runner),
        _records(pe, check, topology),
        _zone_group(pe, check),
    ):
        if problem is not None:
            return problem
    records = [r.name for g in pe.zone_groups or () for c in g.configs for r in c.records]
    zones = sorted({name_of(c.zone_id) for g in pe.zone_groups or () for c in g.configs})
    target = f" ({kind_of(check.entry)} {name_of(check.entry)})" if check.target else ""
    return passed(
        PRIVATE_ENDPOINT,
        check.entry,
        f"{pe.name}{target}: Approved, {', '.join(pe.addresses) or 'no address'} in "
        f"{name_of(_vnet(pe))}, records {', '.join(records)} in {', '.join(zones)}",
    )


def _state(pe: PrivateEndpointFacts, check: EndpointCheck) -> CheckResult | None:
    state = pe.provisioning_state or "Succeeded"
    if state.lower() == "succeeded":
        return None
    return failed(
        PRIVATE_ENDPOINT,
        check.entry,
        f"private endpoint {pe.name} is {state}",
        f"wait for {pe.name} to be Succeeded, or delete and re-create it if it failed",
    )


def _connection(pe: PrivateEndpointFacts, check: EndpointCheck) -> CheckResult | None:
    connections = pe.connections_to(check.target)
    target = name_of(check.target or (connections[0].target_id if connections else ""))
    if not connections:
        return failed(
            PRIVATE_ENDPOINT,
            check.entry,
            f"private endpoint {pe.name} has no connection to {target or 'any resource'}",
            f"re-create {pe.name} with a private link service connection",
        )
    if any(c.status.lower() == "approved" for c in connections):
        return None
    connection = connections[0]
    said = f" ('{connection.description}')" if connection.description else ""
    if connection.status.lower() == "pending":
        fix = (
            f"approve the connection on {target}: az network private-endpoint-connection approve "
            f"--id <its connection> (or {target}'s Networking page)"
        )
    else:
        fix = f"delete and re-create {pe.name}, then have the owner of {target} approve its connection"
    return failed(
        PRIVATE_ENDPOINT,
        check.entry,
        f"private endpoint {pe.name}'s connection to {target} is {connection.status}{said}: no traffic flows",
        fix,
    )


def _network(pe: PrivateEndpointFacts, check: EndpointCheck, runner: VNetFacts) -> CheckResult | None:
    vnet = _vnet(pe)
    if same(vnet, runner.id):
        return None
    where = name_of(vnet)
    peering = next((p for p in runner.peerings if same(p.remote_vnet_id, vnet)), None)
    if peering is None:
        return failed(
            PRIVATE_ENDPOINT,
            check.entry,
            f"private endpoint {pe.name} is in {where}, which {runner.name} is not peered with: runners "
            "cannot reach it",
            f"peer {runner.name} and {where} both ways, or create a private endpoint in {runner.name}",
        )
    if peering.state != "Connected" or not peering.allow_virtual_network_access:
        state = peering.state if peering.state != "Connected" else "without virtual network access"
        return failed(
            PRIVATE_ENDPOINT,
            check.entry,
            f"private endpoint {pe.name} is in {where}, but peering '{peering.name}' ({runner.name} -> "
            f"{where}) is {state}",
            f"make the peering of {runner.name} and {where} Connected both ways, allowing virtual "
            "network access",
        )
    return None


def _nsg(
    pe: PrivateEndpointFacts,
    check: EndpointCheck,
    topology: PoolTopology,
    subnet: SubnetFacts,
    runner: VNetFacts,
) -> CheckResult | None:
    nsg = topology.nsg.value if topology.nsg is not None else None
    if nsg is None:
        return None
    routes = topology.route_table.value.routes if topology.route_table and topology.route_table.value else ()
    local = [*runner.address_prefixes, *(p for peering in runner.peerings for p in peering.remote_prefixes)]
    network = Network(spans_of([*local, *(r.address_prefix for r in routes)]))
    runners = spans_of(subnet.address_prefixes)
    for address in pe.addresses:
        start = Flows((Box(runners, ALL_PORTS, span_of(address), HTTPS, protocol_range("Tcp")),))
        for decision in decide(nsg.rules, "Outbound", start, network):
            if decision.rule.access.lower() != "deny":
                continue
            rule = decision.rule
            return failed(
                PRIVATE_ENDPOINT,
                check.entry,
                f"{nsg.name} rule '{rule.name}' (priority {rule.priority}) denies outbound TCP 443 to "
                f"private endpoint {pe.name} at {address}",
                f"allow outbound TCP 443 to {address} with a rule of priority below {rule.priority}",
            )
    return None


def _records(pe: PrivateEndpointFacts, check: EndpointCheck, topology: PoolTopology) -> CheckResult | None:
    held = {r.resource.lower(): r for r in check.records}
    usable = {z.zone.resource.lower() for z in topology.zones if z.zone.value is not None}
    for group in pe.zone_groups or ():
        for config in group.configs:
            if config.zone_id.lower() not in usable:
                continue  # dns-link says why the zone cannot be used
            zone = name_of(config.zone_id)
            for record in config.records:
                if record.record_type.upper() != "A":
                    continue
                found = held.get(f"{config.zone_id}/A/{record.name}".lower())
                problem = _record(found, record, zone, pe, check)
                if problem is not None:
                    return problem
    return None


def _record(
    found: Lookup[tuple[str, ...]] | None,
    record: ZoneGroupRecord,
    zone: str,
    pe: PrivateEndpointFacts,
    check: EndpointCheck,
) -> CheckResult | None:
    name, expected = record.name, record.addresses
    if found is None:
        return None
    if found.error is not None:
        return failed(
            PRIVATE_ENDPOINT,
            check.entry,
            f"cannot read A record '{name}' in {zone}: {found.error}",
            f"grant the provisioner's identity Private DNS Zone Reader on {zone}",
        )
    fix = f"re-create the zone group of {pe.name} so Azure writes its records, or set A record '{name}' "
    if not found.value:
        return failed(
            PRIVATE_ENDPOINT,
            check.entry,
            f"{zone} has no A record '{name}' for private endpoint {pe.name}: its name does not resolve "
            "in linked VNets",
            fix + f"to {', '.join(expected)}",
        )
    public = [a for a in found.value if not is_rfc1918(a)]
    if public:
        return failed(
            PRIVATE_ENDPOINT,
            check.entry,
            f"A record '{name}' in {zone} holds {', '.join(public)}: not a private (RFC 1918) address",
            fix + f"to {', '.join(expected)}",
        )
    if expected and not set(found.value) & set(expected):
        return failed(
            PRIVATE_ENDPOINT,
            check.entry,
            f"A record '{name}' in {zone} points at {', '.join(found.value)}, not at private endpoint "
            f"{pe.name} ({', '.join(expected)})",
            fix + f"to {', '.join(expected)}",
        )
    return None


def _zone_group(pe: PrivateEndpointFacts, check: EndpointCheck) -> CheckResult | None:
    if pe.zone_groups_error is not None:
        return warned(
            PRIVATE_ENDPOINT,
            check.entry,
            f"cannot read the private DNS zone groups of {pe.name}: {pe.zone_groups_error}",
            f"grant the provisioner's identity Reader on {pe.name}; `runner-fleet doctor --probe` resolves "
            "its names from the subnet",
        )
    if pe.zone_groups:
        return None
    return warned(
        PRIVATE_ENDPOINT,
        check.entry,
        f"private endpoint {pe.name} has no private DNS zone group: its records are managed by hand and "
        "cannot be checked",
        f"add a zone group to {pe.name} (az network private-endpoint dns-zone-group create) so Azure keeps "
        "its records; `runner-fleet doctor --probe` resolves its names from the subnet",
    )
