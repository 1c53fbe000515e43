"""The way out and the private endpoints, as the real network SDK (azure-mgmt-network 33.1.0, at the
pinned 2024-05-01) reads them from the ARM simulator: subnets' natGateway, routeTable and
defaultOutboundAccess; NAT gateways, route tables and routes, Azure Firewalls, firewall policies and
their rule collection groups, IP groups, private endpoints and their DNS zone groups; registries and
vaults with their private endpoint connections (rule arm.egress-reads)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from azure.mgmt.network.aio import NetworkManagementClient
from azure.mgmt.network.models import ApplicationRule, FirewallPolicyFilterRuleCollection

from simulator.arm import ArmSimulator
from simulator.arm.network_specs import (
    AzureFirewallSpec,
    IpGroupSpec,
    NetworkRuleSpec,
    RuleCollectionSpec,
    ip_group_id,
)
from simulator.arm.scenarios import FIREWALL, FIREWALL_IP, FIREWALL_POLICY, ROUTE_TABLE, scenario
from simulator.arm.topology import (
    ACR_ADDRESS,
    ACR_DATA_FQDN,
    ACR_FQDN,
    ACR_ID,
    ACR_PE,
    ACR_PE_ID,
    ACR_ZONE_ID,
    KEYVAULT_FQDN,
    KEYVAULT_ID,
    KEYVAULT_PE,
    KEYVAULT_PE_ID,
    NAT_GATEWAY,
    NAT_GATEWAY_ID,
    RUNNERS_SUBNET,
    Topology,
)
from tests.simulator.conftest import NetworkFactory

PINNED = "2024-05-01"
SUB = "00000000-0000-0000-0000-000000000001"


@pytest.fixture
def client_for(network_for: NetworkFactory) -> Callable[[ArmSimulator], NetworkManagementClient]:
    """A network client; every call names the pinned version, as the service's adapters do."""
    return network_for


def preset(make_sim: Callable[..., ArmSimulator], name: str) -> ArmSimulator:
    return make_sim(topology=scenario(name).topology)


async def raw_get(client: NetworkManagementClient, path: str, version: str) -> Any:
    response = await client.send_request(HttpRequest("GET", f"{path}?api-version={version}"))
    response.raise_for_status()
    return response.json()


async def test_subnets_carry_their_egress(
    sim: ArmSimulator, client_for: Callable[[ArmSimulator], NetworkManagementClient]
) -> None:
    """snet-runners names its NAT gateway and is private; the endpoints' subnet lists them."""
    network = client_for(sim)
    subnet = await network.subnets.get("rg-runners", "vnet-runners", "snet-runners", api_version=PINNED)
    assert subnet.nat_gateway is not None and subnet.nat_gateway.id == NAT_GATEWAY_ID
    assert subnet.default_outbound_access is False and subnet.route_table is None
    endpoints = await network.subnets.get("rg-aks", "vnet-aks", "snet-endpoints", api_version=PINNED)
    assert sorted(pe.id for pe in endpoints.private_endpoints or []) == sorted([ACR_PE_ID, KEYVAULT_PE_ID])
    plain = await network.subnets.get("rg-aks", "vnet-aks", "snet-aks-nodes", api_version=PINNED)
    assert plain.default_outbound_access is None and plain.nat_gateway is None


async def test_nat_gateways_are_read_by_item_group_and_subscription(
    sim: ArmSimulator, client_for: Callable[[ArmSimulator], NetworkManagementClient]
) -> None:
    """A NAT gateway has its public IP reference, Standard SKU and the subnets it serves."""
    network = client_for(sim)
    nat = await network.nat_gateways.get("rg-runners", NAT_GATEWAY, api_version=PINNED)
    assert nat.sku is not None and nat.sku.name == "Standard" and nat.provisioning_state == "Succeeded"
    assert [ip.id.rsplit("/", 1)[1] for ip in nat.public_ip_addresses or []] == [f"pip-{NAT_GATEWAY}-1"]
    assert sorted(s.id.rsplit("/", 1)[1] for s in nat.subnets or []) == ["snet-runners", "snet-runners-int"]
    listed = [str(n.name) async for n in network.nat_gateways.list("rg-runners", api_version=PINNED)]
    everywhere = [str(n.name) async for n in network.nat_gateways.list_all(api_version=PINNED)]
    assert sorted(listed) == sorted(everywhere) == ["ng-ops", "ng-runners"]


async def test_route_tables_and_routes(
    make_sim: Callable[..., ArmSimulator], client_for: Callable[[ArmSimulator], NetworkManagementClient]
) -> None:
    """A route table holds its routes (also readable one by one) and names the subnets it serves."""
    network = client_for(preset(make_sim, "firewall-egress"))
    table = await network.route_tables.get("rg-runners", ROUTE_TABLE, api_version=PINNED)
    assert table.disable_bgp_route_propagation is True
    [route] = table.routes or []
    assert (route.address_prefix, route.next_hop_type, route.next_hop_ip_address) == (
        "0.0.0.0/0",
        "VirtualAppliance",
        FIREWALL_IP,
    )
    assert [s.id for s in table.subnets or []] == [RUNNERS_SUBNET]
    one = await network.routes.get("rg-runners", ROUTE_TABLE, "default-to-firewall", api_version=PINNED)
    assert one.next_hop_ip_address == FIREWALL_IP
    assert [r.name async for r in network.routes.list("rg-runners", ROUTE_TABLE, api_version=PINNED)] == [
        "default-to-firewall"
    ]
    assert [t.name async for t in network.route_tables.list_all(api_version=PINNED)] == [ROUTE_TABLE]
    subnet = await network.subnets.get("rg-runners", "vnet-runners", "snet-runners", api_version=PINNED)
    assert subnet.route_table is not None and subnet.nat_gateway is None


async def test_firewalls_and_policies(
    make_sim: Callable[..., ArmSimulator], client_for: Callable[[ArmSimulator], NetworkManagementClient]
) -> None:
    """A firewall names its private IP and policy; the policy its groups and firewalls; a group's
    collections and rules deserialise as the SDK's filter collections and application rules."""
    network = client_for(preset(make_sim, "firewall-egress"))
    firewall = await network.azure_firewalls.get("rg-hub", FIREWALL, api_version=PINNED)
    [config] = firewall.ip_configurations or []
    assert config.private_ip_address == FIREWALL_IP
    assert firewall.firewall_policy is not None and firewall.firewall_policy.id.endswith(FIREWALL_POLICY)
    assert [f.name async for f in network.azure_firewalls.list("rg-hub", api_version=PINNED)] == [FIREWALL]
    assert [f.name async for f in network.azure_firewalls.list_all(api_version=PINNED)] == [FIREWALL]
    policy = await network.firewall_policies.get("rg-hub", FIREWALL_POLICY, api_version=PINNED)
    assert policy.dns_settings is not None and policy.dns_settings.enable_proxy is False
    assert [f.id for f in policy.firewalls or []] == [firewall.id]
    assert [g.id.rsplit("/", 1)[1] for g in policy.rule_collection_groups or []] == ["rcg-runners"]
    assert [p.name async for p in network.firewall_policies.list_all(api_version=PINNED)] == [FIREWALL_POLICY]
    group = await network.firewall_policy_rule_collection_groups.get(
        "rg-hub", FIREWALL_POLICY, "rcg-runners", api_version=PINNED
    )
    assert group.priority == 200
    collections = group.rule_collections or []
    assert all(isinstance(c, FirewallPolicyFilterRuleCollection) for c in collections)
    forges = next(c for c in collections if c.name == "allow-forges")
    assert isinstance(forges, FirewallPolicyFilterRuleCollection) and forges.action is not None
    assert (forges.priority, forges.action.type) == (200, "Allow")
    github = next(r for r in forges.rules or [] if r.name == "github")
    assert isinstance(github, ApplicationRule)
    assert "*.actions.githubusercontent.com" in (github.target_fqdns or [])
    assert [(p.protocol_type, p.port) for p in github.protocols or []] == [("Https", 443)]
    listed = [
        g.name
        async for g in network.firewall_policy_rule_collection_groups.list(
            "rg-hub", FIREWALL_POLICY, api_version=PINNED
        )
    ]
    assert listed == ["rcg-runners"]


def with_classic_firewall(topology: Topology) -> Topology:
    """A classic-rules firewall next to the policy one, whose network rule names an IP group."""
    first, *rest = topology.subscriptions
    group = IpGroupSpec("rg-hub", "ipg-runners", ("10.20.0.0/16",))
    rule = NetworkRuleSpec("dns", ("UDP",), (), (ip_group_id("rg-hub", "ipg-runners"),), ("10.40.0.4",))
    classic = AzureFirewallSpec(
        "rg-hub",
        "afw-classic",
        f"/subscriptions/{SUB}/resourceGroups/rg-hub/providers/Microsoft.Network/virtualNetworks/vnet-hub/"
        "subnets/AzureFirewallSubnet",
        "10.40.0.5",
        network_collections=(RuleCollectionSpec("net", 100, "Allow", (rule,)),),
        dns_proxy=True,
    )
    changed = replace(first, ip_groups=(group,), firewalls=(*first.firewalls, classic))
    return replace(topology, subscriptions=(changed, *rest))


async def test_classic_rules_and_ip_groups(
    make_sim: Callable[..., ArmSimulator], client_for: Callable[[ArmSimulator], NetworkManagementClient]
) -> None:
    """Classic network rule collections and the DNS proxy flag read back; an IP group names its users."""
    network = client_for(make_sim(topology=with_classic_firewall(scenario("firewall-egress").topology)))
    classic = await network.azure_firewalls.get("rg-hub", "afw-classic", api_version=PINNED)
    [collection] = classic.network_rule_collections or []
    [rule] = collection.rules or []
    assert (collection.priority, collection.action.type if collection.action else None) == (100, "Allow")
    assert rule.protocols == ["UDP"] and rule.source_ip_groups == [ip_group_id("rg-hub", "ipg-runners")]
    assert (classic.additional_properties or {}).get("Network.DNS.EnableProxy") == "true"
    group = await network.ip_groups.get("rg-hub", "ipg-runners", api_version=PINNED)
    assert group.ip_addresses == ["10.20.0.0/16"] and [f.id for f in group.firewalls or []] == [classic.id]
    assert [g.name async for g in network.ip_groups.list_by_resource_group("rg-hub", api_version=PINNED)] == [
        "ipg-runners"
    ]
    assert [g.name async for g in network.ip_groups.list(api_version=PINNED)] == ["ipg-runners"]


async def test_private_endpoints_and_zone_groups(
    sim: ArmSimulator, client_for: Callable[[ArmSimulator], NetworkManagementClient]
) -> None:
    """An endpoint names its target, group and Approved state, its FQDNs and addresses; its zone group
    the zone and the A record sets Azure keeps there."""
    network = client_for(sim)
    endpoint = await network.private_endpoints.get("rg-aks", ACR_PE, api_version=PINNED)
    [connection] = endpoint.private_link_service_connections or []
    assert connection.private_link_service_id == ACR_ID and connection.group_ids == ["registry"]
    state = connection.private_link_service_connection_state
    assert state is not None and state.status == "Approved"
    assert [(c.fqdn, c.ip_addresses) for c in endpoint.custom_dns_configs or []] == [
        (ACR_FQDN, [ACR_ADDRESS]),
        (ACR_DATA_FQDN, ["10.10.12.5"]),
    ]
    assert endpoint.subnet is not None and endpoint.subnet.id.endswith("/subnets/snet-endpoints")
    group = await network.private_dns_zone_groups.get("rg-aks", ACR_PE, "default", api_version=PINNED)
    [config] = group.private_dns_zone_configs or []
    assert config.private_dns_zone_id == ACR_ZONE_ID
    assert [(r.record_set_name, r.ip_addresses) for r in config.record_sets or []] == [
        ("acrprod", [ACR_ADDRESS]),
        ("acrprod.westeurope.data", ["10.10.12.5"]),
    ]
    assert [
        g.name async for g in network.private_dns_zone_groups.list(ACR_PE, "rg-aks", api_version=PINNED)
    ] == ["default"]
    assert sorted(
        [str(e.name) async for e in network.private_endpoints.list("rg-aks", api_version=PINNED)]
    ) == [
        ACR_PE,
        KEYVAULT_PE,
    ]
    assert len([e async for e in network.private_endpoints.list_by_subscription(api_version=PINNED)]) == 2


async def test_a_pending_endpoint_is_a_manual_connection(
    make_sim: Callable[..., ArmSimulator], client_for: Callable[[ArmSimulator], NetworkManagementClient]
) -> None:
    """endpoint-pending: kv-prod's endpoint waits in manualPrivateLinkServiceConnections, Pending."""
    network = client_for(preset(make_sim, "endpoint-pending"))
    endpoint = await network.private_endpoints.get("rg-aks", KEYVAULT_PE, api_version=PINNED)
    assert endpoint.private_link_service_connections == []
    [manual] = endpoint.manual_private_link_service_connections or []
    assert manual.private_link_service_connection_state is not None
    assert manual.private_link_service_connection_state.status == "Pending"
    assert [c.fqdn for c in endpoint.custom_dns_configs or []] == [KEYVAULT_FQDN]


async def test_registries_and_vaults_list_their_endpoint_connections(
    sim: ArmSimulator, client_for: Callable[[ArmSimulator], NetworkManagementClient]
) -> None:
    """A registry and a vault carry one private endpoint connection per endpoint to them."""
    network = client_for(sim)
    registry = await raw_get(network, ACR_ID, "2023-07-01")
    vault = await raw_get(network, KEYVAULT_ID, "2023-07-01")
    assert registry["properties"]["loginServer"] == ACR_FQDN and registry["sku"]["name"] == "Premium"
    assert vault["properties"]["vaultUri"] == f"https://{KEYVAULT_FQDN}/"
    for body, endpoint in ((registry, ACR_PE_ID), (vault, KEYVAULT_PE_ID)):
        [connection] = body["properties"]["privateEndpointConnections"]
        assert connection["properties"]["privateEndpoint"]["id"] == endpoint
        assert connection["properties"]["privateLinkServiceConnectionState"]["status"] == "Approved"
    listed = await raw_get(
        network, f"/subscriptions/{SUB}/providers/Microsoft.ContainerRegistry/registries", "2023-07-01"
    )
    assert [r["name"] for r in listed["value"]] == ["acrprod"]


async def test_unserved_versions_of_the_new_types_are_refused(
    sim: ArmSimulator, client_for: Callable[[ArmSimulator], NetworkManagementClient]
) -> None:
    """Rule arm.api-version: a version the provider does not serve is NoRegisteredProviderFound."""
    network = client_for(sim)
    with pytest.raises(HttpResponseError) as nat:
        await network.nat_gateways.get("rg-runners", NAT_GATEWAY, api_version="2019-02-01")
    assert nat.value.error is not None and nat.value.error.code == "NoRegisteredProviderFound"
    assert "for type 'natGateways'" in (nat.value.error.message or "")
    response = await network.send_request(HttpRequest("GET", f"{KEYVAULT_ID}?api-version=2024-05-01"))
    assert response.status_code == 400 and response.json()["error"]["code"] == "NoRegisteredProviderFound"


async def test_the_reads_use_the_pinned_version(
    sim: ArmSimulator, client_for: Callable[[ArmSimulator], NetworkManagementClient]
) -> None:
    """The client built with the pinned version sends it on these routes, and the simulator serves it."""
    network = client_for(sim)
    await network.nat_gateways.get("rg-runners", NAT_GATEWAY, api_version=PINNED)
    await network.private_endpoints.get("rg-aks", ACR_PE, api_version=PINNED)
    sent = [e for e in sim.request_log() if "/natGateways/" in e["path"] or "/privateEndpoints/" in e["path"]]
    assert [(e["status"], f"api-version={PINNED}" in e["query"]) for e in sent] == [(200, True)] * 2
