"""The ARM simulator's NSGs as the service's reader sees them: Azure's default rules on every NSG
(rule arm.nsg-defaults) and augmented rules' plural fields (rule arm.nsg-augmented)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest

from simulator.arm import ArmConfig, ArmSimulator
from simulator.arm.topology import (
    ENDPOINT_ADDRESSES,
    RUNNERS_NSG,
    NsgRuleSpec,
    NsgSpec,
    Topology,
    healthy_topology,
)
from simulator.clock import SimClock
from simulator.server import BackgroundLoop
from tests.e2e.preflight_sim import TIME_SCALE, fast_timing, loopback_tls, reader_for

pytestmark = pytest.mark.e2e

PE_RULE = NsgRuleSpec(
    "allow-private-endpoints-https-outbound",
    110,
    "Outbound",
    "Allow",
    "Tcp",
    "*",
    "10.30.0.4, 10.30.1.0/28",
    "443",
)


def with_rule(topology: Topology, rule: NsgRuleSpec) -> Topology:
    """nsg-runners with `rule` in place of its rule of that name (or added)."""
    first, *rest = topology.subscriptions

    def changed(nsg: NsgSpec) -> NsgSpec:
        return replace(nsg, rules=(*(r for r in nsg.rules if r.name != rule.name), rule))

    nsgs = tuple(changed(n) if n.name == "nsg-runners" else n for n in first.nsgs)
    return replace(topology, subscriptions=(replace(first, nsgs=nsgs), *rest))


@contextmanager
def arm_with(topology: Topology) -> Iterator[ArmSimulator]:
    loop = BackgroundLoop("arm-nsg")
    try:
        config = ArmConfig(timing=fast_timing(), seed=7, topology=topology)
        arm = ArmSimulator(loop, clock=SimClock(TIME_SCALE), config=config, tls=loopback_tls())
        arm.start()
        yield arm
        arm.stop()
    finally:
        loop.close()


async def test_rule_arm_nsg_defaults_every_nsg_has_azures_six_default_rules() -> None:
    """rule arm.nsg-defaults: AllowVnetInBound, AllowAzureLoadBalancerInBound, DenyAllInBound at 65000,
    65001, 65500 and AllowVnetOutBound, AllowInternetOutBound, DenyAllOutBound likewise, as defaults."""
    with arm_with(healthy_topology()) as arm:
        reader = reader_for(arm)
        try:
            found = await reader.nsg(RUNNERS_NSG)
        finally:
            await reader.close()
    assert found is not None
    defaults = [(r.name, r.priority, r.direction, r.access) for r in found.rules if r.default]
    assert defaults == [
        ("AllowVnetInBound", 65000, "Inbound", "Allow"),
        ("AllowAzureLoadBalancerInBound", 65001, "Inbound", "Allow"),
        ("DenyAllInBound", 65500, "Inbound", "Deny"),
        ("AllowVnetOutBound", 65000, "Outbound", "Allow"),
        ("AllowInternetOutBound", 65001, "Outbound", "Allow"),
        ("DenyAllOutBound", 65500, "Outbound", "Deny"),
    ]
    vnet_out = next(r for r in found.rules if r.name == "AllowVnetOutBound")
    assert (vnet_out.sources, vnet_out.destinations, vnet_out.source_ports) == (
        ("VirtualNetwork",),
        ("VirtualNetwork",),
        ("*",),
    )


async def test_rule_arm_nsg_augmented_several_prefixes_use_the_plural_field() -> None:
    """rule arm.nsg-augmented: two destinations come back in destinationAddressPrefixes, the singular
    field absent; the service reads both addresses."""
    with arm_with(with_rule(healthy_topology(), PE_RULE)) as arm:
        [body] = [
            r for r in arm.resources("Microsoft.Network/networkSecurityGroups") if r["id"] == RUNNERS_NSG
        ]
        reader = reader_for(arm)
        try:
            found = await reader.nsg(RUNNERS_NSG)
        finally:
            await reader.close()
    [raw] = [
        r["properties"] for r in body["body"]["properties"]["securityRules"] if r["name"] == PE_RULE.name
    ]
    assert raw["destinationAddressPrefixes"] == ["10.30.0.4", "10.30.1.0/28"]
    assert "destinationAddressPrefix" not in raw and raw["destinationPortRange"] == "443"
    assert found is not None
    [rule] = [r for r in found.rules if r.name == PE_RULE.name]
    assert rule.destinations == ("10.30.0.4", "10.30.1.0/28") and rule.destination_ports == ("443",)


def test_the_healthy_nsgs_are_the_ones_infra_deploys() -> None:
    """healthy's runner NSGs hold the isolating rule set, each opening its own cluster's API server and
    the registry's and key vault's private endpoints, on TCP 443 only."""
    [sub] = healthy_topology().subscriptions
    by_name: dict[str, NsgSpec] = {n.name: n for n in sub.nsgs}
    opened = {
        name: [
            (r.destination, r.protocol, r.destination_ports)
            for r in nsg.rules
            if r.access == "Allow" and r.direction == "Outbound"
        ]
        for name, nsg in by_name.items()
    }
    endpoints = (", ".join(ENDPOINT_ADDRESSES), "Tcp", "443")
    assert opened == {
        "nsg-runners": [("10.10.0.4", "Tcp", "443"), endpoints],
        "nsg-runners-int": [("10.10.4.4", "Tcp", "443"), endpoints],
    }
