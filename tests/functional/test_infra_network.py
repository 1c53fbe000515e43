"""The runner network infra/ deploys, read from its Bicep and judged by the preflight's own checks:
runner VMs reach the API server (TCP 443) and nothing else in the network, and accept nothing."""

from __future__ import annotations

from typing import Any

from runner_fleet.preflight.checks.isolation import check_isolation
from runner_fleet.preflight.checks.nsg import check_inbound, check_outbound
from runner_fleet.preflight.topology import Lookup, NsgFacts, NsgRule
from tests.functional.bicep import Opaque, Template
from tests.unit.preflight_world import DEFAULT_RULES, NSG, healthy

API_SERVER = "10.10.0.4"


def deployed_nsg(**params: Any) -> NsgFacts:
    """nsg-<prefix>-runners as the Bicep would create it, plus the default rules Azure adds."""
    template = Template("modules/runner-network.bicep", {"apiServerPrefix": API_SERVER, **params})
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
