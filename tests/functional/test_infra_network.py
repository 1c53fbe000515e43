"""The runner network infra/ deploys, read from its Bicep and judged by the preflight's own checks:
runner VMs reach the API server (TCP 443) and nothing else in the network, and accept nothing; they
get out one way only, a NAT gateway or a route to the firewall, from a private subnet; the private
DNS zones of the registry and the vault are linked to the runner VNet when named."""

from __future__ import annotations

from typing import Any

import pytest

from runner_fleet.preflight.checks.isolation import check_isolation
from runner_fleet.preflight.checks.nsg import check_inbound, check_outbound
from runner_fleet.preflight.checks.nsg_flows import (
    ALL_PORTS,
    Box,
    Flows,
    Network,
    Ranges,
    decide,
    protocol_range,
    spans_of,
)
from runner_fleet.preflight.topology import Lookup, NsgFacts, NsgRule
from tests.functional.bicep import GroupScope, Opaque, Template
from tests.unit.preflight_world import DEFAULT_RULES, NSG, healthy

API_SERVER = "10.10.0.4"
FIREWALL = "10.10.255.4"
SUB = "00000000-0000-0000-0000-000000000001"
DNS_SUB = "00000000-0000-0000-0000-0000000000d5"
ACR_ZONE = (
    f"/subscriptions/{DNS_SUB}/resourceGroups/rg-dns/providers/Microsoft.Network/privateDnsZones/"
    "privatelink.azurecr.io"
)
VAULT_ZONE = (
    f"/subscriptions/{DNS_SUB}/resourceGroups/rg-dns/providers/Microsoft.Network/privateDnsZones/"
    "privatelink.vaultcore.azure.net"
)
# What main.bicep needs to be evaluated: the cluster VNet and its system-managed zone.
MAIN = {
    "prefix": "rf",
    "clusterVnetId": f"/subscriptions/{SUB}/resourceGroups/rg-aks/providers/Microsoft.Network/"
    "virtualNetworks/vnet-aks",
    "clusterNodeResourceGroup": "MC_rg-aks_aks-prod_westeurope",
    "clusterDnsZoneName": "7f3a9c2e.privatelink.westeurope.azmk8s.io",
    "apiServerPrivateAddress": API_SERVER,
}


def network(**params: Any) -> Template:
    """modules/runner-network.bicep given what main.bicep passes it for these main parameters."""
    passed = Template("main.bicep", MAIN | params).config("runnerNetwork")["params"]
    return Template("modules/runner-network.bicep", {"prefix": "rf", **passed})


def deployed_nsg(**params: Any) -> NsgFacts:
    """nsg-<prefix>-runners as the Bicep would create it, plus the default rules Azure adds."""
    template = Template(
        "modules/runner-network.bicep", {"apiServerPrefix": API_SERVER, "createNatGateway": True, **params}
    )
    rules = [_rule(r["name"], r["properties"]) for r in template.config("nsg")["properties"]["securityRules"]]
    return NsgFacts(NSG, "nsg-runners", (*rules, *DEFAULT_RULES))


def _rule(name: str, p: dict[str, Any]) -> NsgRule:
    def many(single: str, plural: str) -> tuple[str, ...]:
        return tuple([p[single]] if single in p else p.get(plural, []))

    return NsgRule(
        name,
        p["priority"],
        p["direction"],
        p["access"],
        p["protocol"],
        many("sourceAddressPrefix", "sourceAddressPrefixes"),
        many("destinationAddressPrefix", "destinationAddressPrefixes"),
        many("destinationPortRange", "destinationPortRanges"),
        source_ports=many("sourcePortRange", "sourcePortRanges"),
    )


def test_the_deployed_runner_nsg_passes_every_nsg_check() -> None:
    """nsg-isolation, nsg-inbound and nsg-outbound all pass on the NSG the Bicep deploys."""
    topology = healthy(nsg=Lookup(NSG, deployed_nsg()))
    results = [check_isolation(topology), check_inbound(topology), check_outbound(topology)]
    assert [(r.name, r.status) for r in results if r is not None] == [
        ("nsg-isolation", "pass"),
        ("nsg-inbound", "pass"),
        ("nsg-outbound", "pass"),
    ]


def test_the_deployed_nsg_keeps_internet_egress_and_load_balancer_probes() -> None:
    """Internet outbound is left to Azure's default; probes from AzureLoadBalancer stay allowed."""
    rules = {r.name: r for r in deployed_nsg().rules}
    assert not any(
        r.direction == "Outbound" and "Internet" in r.destinations for r in rules.values() if not r.default
    )
    probes = rules["allow-azure-load-balancer-inbound"]
    assert (probes.access, probes.sources, probes.priority < rules["deny-vnet-inbound"].priority) == (
        "Allow",
        ("AzureLoadBalancer",),
        True,
    )


def test_private_endpoints_get_a_rule_for_tcp_443_only_when_listed() -> None:
    """privateEndpointPrefixes: one allow for TCP 443 to them; none at all for an empty list."""
    listed = {r.name: r for r in deployed_nsg(privateEndpointPrefixes=["10.30.0.4", "10.30.1.0/28"]).rules}
    rule = listed["allow-private-endpoints-https-outbound"]
    assert (rule.protocol, rule.destinations, rule.destination_ports) == (
        "Tcp",
        ("10.30.0.4", "10.30.1.0/28"),
        ("443",),
    )
    assert "allow-private-endpoints-https-outbound" not in {r.name for r in deployed_nsg().rules}


def test_the_function_integration_subnet_has_its_own_nsg() -> None:
    """The Function App's integration subnet must reach the network: it is not behind the runner NSG."""
    template = Template("modules/runner-network.bicep", {"enableVnetIntegration": True})
    integration = template.variable("integrationSubnet")["properties"]["networkSecurityGroup"]["id"]
    runner = template.variable("runnerSubnet")["properties"]["networkSecurityGroup"]["id"]
    assert isinstance(integration, Opaque) and isinstance(runner, Opaque)
    assert (integration.text(), runner.text()) == ("integrationNsg.id", "nsg.id")


def test_main_passes_the_api_server_address_to_the_runner_network() -> None:
    """main.bicep's apiServerPrivateAddress and privateEndpointAddresses reach the NSG's parameters."""
    params = Template("main.bicep").resource("runnerNetwork")["config"]["params"]
    assert (params["apiServerPrefix"], params["privateEndpointPrefixes"]) == (
        "apiServerPrivateAddress",
        "privateEndpointAddresses",
    )


def test_a_nat_gateway_is_the_way_out_by_default() -> None:
    """No firewall named: a NAT gateway with a static public IP on the runner subnet, no route table."""
    template = network()
    subnet = template.variable("runnerSubnet")["properties"]
    nat = subnet["natGateway"]["id"]
    assert isinstance(nat, Opaque) and nat.text() == "natGateway.id"
    assert subnet["routeTable"] is None
    assert [template.deployed(r) for r in ("natGateway", "egressIp", "routeTable")] == [True, True, False]
    assert template.config("natGateway")["properties"]["publicIpAddresses"][0]["id"].text() == "egressIp.id"
    assert template.output("egress") == "nat-gateway"


def test_a_firewall_ip_routes_everything_out_through_it_and_makes_no_nat_gateway() -> None:
    """egressFirewallIp: a route sends 0.0.0.0/0 to it as VirtualAppliance; no NAT gateway, no public IP."""
    template = network(egressFirewallIp=FIREWALL)
    subnet = template.variable("runnerSubnet")["properties"]
    assert subnet["natGateway"] is None and subnet["routeTable"]["id"].text() == "routeTable.id"
    assert [template.deployed(r) for r in ("natGateway", "egressIp", "routeTable")] == [False, False, True]
    table = template.config("routeTable")
    assert table["name"] == "rt-rf-runners"
    assert table["properties"]["disableBgpRoutePropagation"] is True
    assert table["properties"]["routes"] == [
        {
            "name": "default-to-firewall",
            "properties": {
                "addressPrefix": "0.0.0.0/0",
                "nextHopType": "VirtualAppliance",
                "nextHopIpAddress": FIREWALL,
            },
        }
    ]
    assert template.output("egress") == f"firewall {FIREWALL}"


def test_a_firewall_wins_over_an_explicit_nat_gateway() -> None:
    """Both ways named: the firewall's route is the one way out, so nothing bypasses the firewall."""
    template = network(egressFirewallIp=FIREWALL, createNatGateway=True)
    assert [template.deployed(r) for r in ("natGateway", "egressIp", "routeTable")] == [False, False, True]


def test_main_chooses_a_nat_gateway_exactly_when_no_firewall_is_named() -> None:
    """createNatGateway defaults to whether egressFirewallIp is empty; both reach the runner network."""
    assert Template("main.bicep", MAIN).value("createNatGateway") is True
    assert Template("main.bicep", MAIN | {"egressFirewallIp": FIREWALL}).value("createNatGateway") is False
    params = Template("main.bicep").resource("runnerNetwork")["config"]["params"]
    assert [params["createNatGateway"], params["egressFirewallIp"]] == [
        "createNatGateway",
        "egressFirewallIp",
    ]


@pytest.mark.parametrize("egress", [{}, {"egressFirewallIp": FIREWALL}, {"createNatGateway": False}])
def test_the_runner_subnet_never_has_default_outbound_access(egress: dict[str, Any]) -> None:
    """defaultOutboundAccess is false whichever way out is chosen, none included: no implicit Internet."""
    assert network(**egress).variable("runnerSubnet")["properties"]["defaultOutboundAccess"] is False


def test_no_way_out_makes_neither_a_nat_gateway_nor_a_route() -> None:
    """createNatGateway false and no firewall: nothing is made (a default route must come from elsewhere)."""
    template = network(createNatGateway=False)
    assert [template.deployed(r) for r in ("natGateway", "egressIp", "routeTable")] == [False, False, False]
    assert template.output("egress") == "none"


def _decided_by(nsg: NsgFacts, destination: str, port: int, vnet_tag: list[str]) -> str:
    """The rule that decides TCP from a runner to destination:port, with VirtualNetwork as given."""
    runner, tcp = spans_of(["10.20.0.4"]), protocol_range("Tcp")
    flow = Box(runner, ALL_PORTS, spans_of([destination]), Ranges(((port, port),)), tcp)
    [decision] = decide(nsg.rules, "Outbound", Flows((flow,)), Network(spans_of(vnet_tag)))
    return f"{decision.rule.access} by {decision.rule.name}"


VNETS = ["10.20.0.0/16", "10.10.0.0/16"]  # the runner VNet and the peered cluster VNet


def test_behind_a_firewall_the_nsg_still_lets_runners_out_when_the_route_joins_the_vnet_tag() -> None:
    """0.0.0.0/0 to a firewall joins the VirtualNetwork tag: private ranges are denied there, not the tag."""
    behind = deployed_nsg(createNatGateway=False, egressFirewallIp=FIREWALL)
    with_route = [*VNETS, "0.0.0.0/0"]
    assert _decided_by(behind, "140.82.112.3", 443, with_route) == "Allow by AllowVnetOutBound"
    assert _decided_by(behind, "140.82.112.3", 443, VNETS) == "Allow by AllowInternetOutBound"
    for vnet_tag in (with_route, VNETS):
        assert _decided_by(behind, API_SERVER, 443, vnet_tag) == "Allow by allow-api-server-https-outbound"
        assert _decided_by(behind, "10.10.1.5", 10250, vnet_tag) == "Deny by deny-private-outbound"
    # The NAT gateway's NSG keeps the tag, which would have cut a firewall's runners off.
    assert _decided_by(deployed_nsg(), "140.82.112.3", 443, with_route) == "Deny by deny-vnet-outbound"


def test_the_nsg_behind_a_firewall_passes_every_nsg_check() -> None:
    """nsg-isolation, nsg-inbound and nsg-outbound pass on the firewall variant's NSG too."""
    nsg = deployed_nsg(createNatGateway=False, egressFirewallIp=FIREWALL)
    topology = healthy(nsg=Lookup(NSG, nsg))
    results = [check_isolation(topology), check_inbound(topology), check_outbound(topology)]
    assert [r.status for r in results if r is not None] == ["pass", "pass", "pass"]


def _links(**params: Any) -> list[tuple[GroupScope, str, str]]:
    return [
        (link["scope"], link["params"]["zoneName"], link["params"]["linkName"])
        for link in Template("main.bicep", MAIN | params).configs("dnsLinks")
    ]


CLUSTER_LINK = (
    GroupScope(SUB, "MC_rg-aks_aks-prod_westeurope"),
    "7f3a9c2e.privatelink.westeurope.azmk8s.io",
    "link-rf-runners",
)


def test_only_the_cluster_zone_is_linked_when_no_other_zone_is_named() -> None:
    """Without registry or vault zones, the runner VNet is linked to the cluster's zone alone."""
    assert _links() == [CLUSTER_LINK]


def test_the_registry_and_vault_zones_are_linked_in_their_own_subscription_and_group() -> None:
    """acrPrivateDnsZoneId, keyVaultPrivateDnsZoneId: each zone is linked to the runner VNet where it is."""
    links = _links(acrPrivateDnsZoneId=ACR_ZONE, keyVaultPrivateDnsZoneId=VAULT_ZONE)
    assert links == [
        CLUSTER_LINK,
        (GroupScope(DNS_SUB, "rg-dns"), "privatelink.azurecr.io", "link-rf-runners"),
        (GroupScope(DNS_SUB, "rg-dns"), "privatelink.vaultcore.azure.net", "link-rf-runners"),
    ]
    assert [zone for _, zone, _ in _links(keyVaultPrivateDnsZoneId=VAULT_ZONE)] == [
        CLUSTER_LINK[1],
        "privatelink.vaultcore.azure.net",
    ]


def test_a_zone_named_twice_is_linked_once() -> None:
    """The registry zone also listed in extraDnsZoneIds gets one link, not two competing ones."""
    links = _links(acrPrivateDnsZoneId=ACR_ZONE, extraDnsZoneIds=[ACR_ZONE])
    assert [zone for _, zone, _ in links] == [CLUSTER_LINK[1], "privatelink.azurecr.io"]


def test_zone_links_never_register_runner_records() -> None:
    """A linked zone holds the endpoints' records: runner VMs must not register theirs in it."""
    link = Template("modules/dns-link.bicep", {"zoneName": "privatelink.azurecr.io"}).config("link")
    assert link["properties"]["registrationEnabled"] is False


def test_the_preflight_may_read_the_way_out_the_template_made() -> None:
    """The network reader reads NAT gateways and route tables, and holds them on the one made here only."""
    main = Template("main.bicep", MAIN)
    [permissions] = main.config("networkReader")["properties"]["permissions"]
    reads = {"Microsoft.Network/natGateways/read", "Microsoft.Network/routeTables/read"}
    assert reads <= set(permissions["actions"])
    nat = Template("modules/egress-read.bicep", {"natGatewayName": "ng-rf-runners"})
    assert (nat.deployed("natGatewayRead"), nat.deployed("routeTableRead")) == (True, False)
    assert nat.config("natGatewayRead")["scope"] == "natGateway"
    firewall = Template("modules/egress-read.bicep", {"routeTableName": "rt-rf-runners"})
    assert (firewall.deployed("natGatewayRead"), firewall.deployed("routeTableRead")) == (False, True)
    assert (network().output("natGatewayName"), network().output("routeTableName")) == ("ng-rf-runners", "")
    behind = network(egressFirewallIp=FIREWALL)
    assert (behind.output("natGatewayName"), behind.output("routeTableName")) == ("", "rt-rf-runners")
    params = main.config("egressRead")["params"]
    assert (params["natGatewayName"].text(), params["routeTableName"].text()) == (
        "runnerNetwork.outputs.natGatewayName",
        "runnerNetwork.outputs.routeTableName",
    )
    assert main.config("egressRead")["scope"] == "runnerGroup"
