"""`private-endpoint` over in-memory topologies: each endpoint a pool lists (or finds for a registry or
vault) is Approved, in a VNet runners reach, open in the NSG, and named in its zones; one line each."""

from __future__ import annotations

from dataclasses import replace

from runner_fleet.ports.preflight import CheckResult
from runner_fleet.preflight.checks.endpoints import check_endpoints
from runner_fleet.preflight.checks.isolation import check_isolation
from runner_fleet.preflight.topology import EndpointCheck, Lookup, PoolTopology
from tests.unit.preflight_world import (
    ACR_ID,
    ACR_PE,
    AKS_NET,
    CLUSTER_VNET,
    ISOLATED,
    NSG,
    RUNNER_VNET,
    SUB,
    acr_endpoint,
    acr_records,
    healthy,
    https_out,
    nsg,
    peering,
    runner_vnet,
    with_acr,
)


def endpoint(topology: PoolTopology) -> CheckResult:
    [result] = check_endpoints(topology)
    assert result.resource == ACR_ID
    return result


def test_an_approved_endpoint_with_its_records_passes() -> None:
    """Approved, in the runner VNet, open in the NSG, both records in the zone: pass on the registry."""
    result = endpoint(with_acr())
    assert result.status == "pass"
    assert result.message == (
        "pe-acrprod (container registry acrprod): Approved, 10.20.1.4, 10.20.1.5 in vnet-runners, records "
        "acrprod, acrprod.westeurope.data in privatelink.azurecr.io"
    )


def test_a_registry_without_an_endpoint_fails() -> None:
    """No endpoint of the registry in the subscriptions searched: fail, fix creates one."""
    topology = replace(with_acr(), endpoints=(EndpointCheck(ACR_ID, Lookup(ACR_ID, ()), (), (SUB,)),))
    result = endpoint(topology)
    assert result.status == "fail"
    assert result.message.startswith(
        f"no private endpoint of container registry acrprod found (subscriptions {SUB})"
    )
    assert result.fix.startswith("create a private endpoint for acrprod in vnet-runners")


def test_a_pending_connection_fails_and_says_who_approves() -> None:
    """Pending: no traffic flows until the registry's owner approves it."""
    result = endpoint(
        with_acr(
            None,
            acr_endpoint(
                "Pending",
                connections=(
                    replace(acr_endpoint().connections[0], status="Pending", description="please approve"),
                ),
            ),
        )
    )
    assert result.status == "fail"
    assert result.message == (
        "private endpoint pe-acrprod's connection to acrprod is Pending ('please approve'): no traffic flows"
    )
    assert result.fix.startswith("approve the connection on acrprod")


def test_a_rejected_connection_needs_a_new_endpoint() -> None:
    """Rejected (or Disconnected) cannot be approved again: re-create the endpoint."""
    rejected = replace(acr_endpoint().connections[0], status="Rejected", description="")
    result = endpoint(with_acr(None, acr_endpoint(connections=(rejected,))))
    assert result.status == "fail" and "is Rejected" in result.message
    assert result.fix.startswith("delete and re-create pe-acrprod")


def test_an_endpoint_without_a_zone_group_warns() -> None:
    """Records kept by hand cannot be checked: warn, point at the zone group and the probe."""
    result = endpoint(with_acr(None, acr_endpoint(zone_groups=())))
    assert result.status == "warn" and "has no private DNS zone group" in result.message
    assert "dns-zone-group create" in result.fix and "doctor --probe" in result.fix


def test_a_missing_record_fails() -> None:
    """The zone lacks the data endpoint's record: that name does not resolve in linked VNets."""
    topology = replace(
        with_acr(),
        endpoints=(
            replace(with_acr().endpoints[0], records=acr_records(**{"acrprod.westeurope.data": None})),
        ),
    )
    result = endpoint(topology)
    assert result.status == "fail"
    assert result.message.startswith("privatelink.azurecr.io has no A record 'acrprod.westeurope.data'")
    assert result.fix.endswith("set A record 'acrprod.westeurope.data' to 10.20.1.5")


def test_a_record_with_a_public_address_fails() -> None:
    """A record holding a public address is no private endpoint."""
    records = acr_records(acrprod=("20.61.45.12",))
    topology = replace(with_acr(), endpoints=(replace(with_acr().endpoints[0], records=records),))
    result = endpoint(topology)
    assert result.status == "fail" and "holds 20.61.45.12: not a private (RFC 1918) address" in result.message


def test_a_record_pointing_elsewhere_fails() -> None:
    """A stale record (another private address) sends runners elsewhere."""
    records = acr_records(acrprod=("10.20.1.99",))
    topology = replace(with_acr(), endpoints=(replace(with_acr().endpoints[0], records=records),))
    result = endpoint(topology)
    assert result.status == "fail"
    assert "points at 10.20.1.99, not at private endpoint pe-acrprod (10.20.1.4)" in result.message


def test_an_endpoint_in_an_unpeered_vnet_fails() -> None:
    """The endpoint's VNet is not the runner VNet and not peered with it."""
    elsewhere = acr_endpoint(subnet_id=f"{AKS_NET}/virtualNetworks/vnet-shared/subnets/endpoints")
    result = endpoint(with_acr(None, elsewhere))
    assert result.status == "fail"
    assert "is in vnet-shared, which vnet-runners is not peered with" in result.message
    assert result.fix.startswith("peer vnet-runners and vnet-shared both ways")


def test_an_endpoint_in_the_peered_cluster_vnet_passes_when_connected() -> None:
    """In the cluster's VNet, peered and Connected: pass; with the peering Initiated: fail."""
    peered = acr_endpoint(subnet_id=f"{CLUSTER_VNET}/subnets/endpoints")
    assert endpoint(with_acr(None, peered)).status == "pass"
    initiated = runner_vnet(
        peerings=(peering("runners-to-aks", RUNNER_VNET, CLUSTER_VNET, "10.10.0.0/16", state="Initiated"),)
    )
    result = endpoint(with_acr(None, peered, runner_vnet=Lookup(RUNNER_VNET, initiated)))
    assert result.status == "fail" and "peering 'runners-to-aks' (vnet-runners -> vnet-aks) is Initiated" in (
        result.message
    )


def test_an_nsg_denying_443_to_the_endpoint_fails_naming_the_rule() -> None:
    """infra/'s NSG without the endpoints' allow rule: deny-vnet-outbound blocks them."""
    result = endpoint(with_acr(healthy(nsg=Lookup(NSG, nsg(*ISOLATED)))))
    assert result.status == "fail"
    assert result.message == (
        "nsg-runners rule 'deny-vnet-outbound' (priority 4000) denies outbound TCP 443 to private endpoint "
        "pe-acrprod at 10.20.1.4"
    )
    assert result.fix == "allow outbound TCP 443 to 10.20.1.4 with a rule of priority below 4000"


def test_the_nearest_usable_endpoint_is_reported() -> None:
    """Two endpoints of the registry: an unpeered one failing, one in the runner VNet passing: pass."""
    far = acr_endpoint(id=f"{ACR_PE}-far", name="pe-far", subnet_id=f"{AKS_NET}/virtualNetworks/x/subnets/y")
    assert endpoint(with_acr(None, far, acr_endpoint())).status == "pass"
    assert "pe-far" in endpoint(with_acr(None, far)).message


def test_an_endpoint_id_that_does_not_exist_fails() -> None:
    """An endpoint listed by ID and not found."""
    check = EndpointCheck(ACR_PE, Lookup(ACR_PE))
    [result] = check_endpoints(replace(with_acr(), endpoints=(check,)))
    assert result.status == "fail" and result.message == "private endpoint pe-acrprod not found"


def test_the_isolation_check_counts_the_endpoints_as_needed() -> None:
    """nsg-isolation: the endpoints' allow rule opens what the pool needs, nothing more."""
    result = check_isolation(with_acr())
    assert result is not None and result.status == "pass"
    assert "nothing in the VNet but 10.10.0.4, 10.20.1.4, 10.20.1.5" in result.message
    extra = https_out("allow-other", 120, "Allow", "10.20.1.0/24")
    topology = with_acr(healthy(nsg=Lookup(NSG, nsg(extra, *ISOLATED))))
    warned = check_isolation(topology)
    assert warned is not None and warned.status == "warn" and "allow-other" in warned.message
