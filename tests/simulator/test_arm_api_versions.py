"""Rule arm.api-version: each simulated resource type serves its own API versions and refuses others
the way ARM does (400 NoRegisteredProviderFound, or InvalidApiVersionParameter for a malformed one)."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.compute.aio import ComputeManagementClient
from azure.mgmt.network.aio import NetworkManagementClient

from simulator.arm import ArmConfig, ArmSimulator
from simulator.arm.api_versions import DEFAULT_SERVED
from simulator.arm.simulator import build_router
from simulator.arm.state import ArmState
from simulator.clock import SimClock

RG = "rg-runners"


async def test_an_unregistered_version_is_no_registered_provider_found(
    compute: ComputeManagementClient,
) -> None:
    """Rule arm.api-version: a date-shaped version the type does not serve answers 400
    NoRegisteredProviderFound naming the location, version, type and supported versions and locations."""
    with pytest.raises(HttpResponseError) as caught:
        await compute.virtual_machines.get(RG, "vm-any", api_version="2019-03-01")
    assert caught.value.status_code == 400
    assert caught.value.error is not None
    assert caught.value.error.code == "NoRegisteredProviderFound"
    message = caught.value.error.message or ""
    assert message.startswith(
        "No registered resource provider found for location 'westeurope' and API version '2019-03-01' "
        "for type 'virtualMachines'. The supported api-versions are '"
    )
    assert "2024-07-01" in message and "The supported locations are 'westeurope'" in message


async def test_a_malformed_version_is_invalid_api_version_parameter(compute: ComputeManagementClient) -> None:
    """Rule arm.api-version: a value that is no API version at all answers 400 InvalidApiVersionParameter."""
    with pytest.raises(HttpResponseError) as caught:
        await compute.virtual_machines.get(RG, "vm-any", api_version="latest")
    assert caught.value.status_code == 400
    assert caught.value.error is not None
    assert caught.value.error.code == "InvalidApiVersionParameter"
    assert (caught.value.error.message or "").startswith("The api-version 'latest' is invalid.")


async def test_versions_are_per_resource_type(
    compute: ComputeManagementClient, network: NetworkManagementClient
) -> None:
    """Rule arm.api-version: Compute's VM version is refused for resource SKUs and for subnets."""
    with pytest.raises(HttpResponseError) as skus:
        [s async for s in compute.resource_skus.list(api_version="2024-07-01")]
    with pytest.raises(HttpResponseError) as subnet:
        await network.subnets.get(RG, "vnet-runners", "snet-runners", api_version="2026-04-01")
    assert skus.value.error is not None and subnet.value.error is not None
    assert (skus.value.error.code, subnet.value.error.code) == ("NoRegisteredProviderFound",) * 2
    assert "for type 'skus'" in (skus.value.error.message or "")
    assert "for type 'virtualNetworks/subnets'" in (subnet.value.error.message or "")


def test_every_simulated_route_declares_a_served_type() -> None:
    """Rule arm.api-version: every route the simulator serves names a type with served versions."""
    router = build_router(ArmState(ArmConfig(), SimClock(1.0)))
    types = {route.resource_type for route in router.routes}
    assert types == set(DEFAULT_SERVED)
    assert all(DEFAULT_SERVED[t] for t in types)


async def test_a_lagging_cloud_is_modelled_by_narrowing_a_type(
    sim: ArmSimulator, compute: ComputeManagementClient
) -> None:
    """Rule arm.api-version: a cloud that does not serve the SDK's default version refuses it."""
    sim.configure(api_versions={"Microsoft.Compute/virtualMachines": ["2024-07-01"]})
    with pytest.raises(HttpResponseError) as caught:
        [vm async for vm in compute.virtual_machines.list(RG)]  # the SDK default, 2026-04-01
    assert caught.value.error is not None
    assert caught.value.error.code == "NoRegisteredProviderFound"
    assert [vm async for vm in compute.virtual_machines.list(RG, api_version="2024-07-01")] == []
