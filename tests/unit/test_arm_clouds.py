"""The cloud table: ARM_ENDPOINT picks the token scope and the pinned API versions, in one place."""

from __future__ import annotations

import pytest
from azure.mgmt.compute.aio import ComputeManagementClient
from azure.mgmt.containerservice.aio import ContainerServiceClient
from azure.mgmt.network.aio import NetworkManagementClient
from azure.mgmt.privatedns.aio import PrivateDnsManagementClient

from runner_fleet.adapters.azure.clients import ArmConnection
from runner_fleet.adapters.azure.clouds import CLOUDS, UnknownArmEndpoint, cloud_for_endpoint
from runner_fleet.settings import SettingsError, load_service_settings


@pytest.mark.parametrize(
    ("endpoint", "cloud", "scope"),
    [
        ("https://management.azure.com", "AzureCloud", "https://management.azure.com/.default"),
        ("https://management.azure.com/", "AzureCloud", "https://management.azure.com/.default"),
        (
            "https://management.usgovcloudapi.net",
            "AzureUSGovernment",
            "https://management.core.usgovcloudapi.net/.default",
        ),
        (
            "https://Management.ChinaCloudAPI.cn/",
            "AzureChinaCloud",
            "https://management.chinacloudapi.cn/.default",
        ),
    ],
)
def test_each_cloud_has_its_own_token_scope(endpoint: str, cloud: str, scope: str) -> None:
    """Each sovereign cloud's ARM endpoint maps to its cloud and the token scope azure-mgmt-core uses."""
    found = cloud_for_endpoint(endpoint)
    assert (found.name, found.credential_scope) == (cloud, scope)


@pytest.mark.parametrize(
    "endpoint", ["https://127.0.0.1:8443", "https://localhost:9443/", "https://[::1]:8443"]
)
def test_a_loopback_simulator_stands_in_for_azure_cloud(endpoint: str) -> None:
    """A loopback endpoint (the simulators) gets AzureCloud's scope and versions."""
    assert cloud_for_endpoint(endpoint) is CLOUDS[0]


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://management.azure.com",
        "https://management.azure.de",
        "https://management.azure.com.evil.example",
        "https://management.azure.com/subscriptions",
        "https://10.0.0.5:8443",
        "management.azure.com",
    ],
)
def test_unknown_endpoints_are_refused(endpoint: str) -> None:
    """Anything but the three clouds over https, or a loopback simulator, is refused."""
    with pytest.raises(UnknownArmEndpoint):
        cloud_for_endpoint(endpoint)


def test_a_bad_arm_endpoint_fails_at_start_up_naming_the_setting() -> None:
    """An unknown ARM_ENDPOINT fails settings loading with a message naming ARM_ENDPOINT."""
    with pytest.raises(SettingsError, match=r"field 'ARM_ENDPOINT': is not a known Azure cloud"):
        load_service_settings({"ARM_ENDPOINT": "https://management.example.org"})


def test_the_endpoint_setting_is_normalised() -> None:
    """A trailing slash on ARM_ENDPOINT is dropped, so the SDK's base URL is always the bare host."""
    settings = load_service_settings({"ARM_ENDPOINT": "https://management.usgovcloudapi.net/"})
    assert settings.arm_endpoint == "https://management.usgovcloudapi.net"


def test_clients_get_the_scope_and_client_level_versions_of_the_cloud() -> None:
    """ArmConnection pins the version for clients that take one per client, and never for the others."""
    conn = ArmConnection(credential=object(), endpoint="https://management.usgovcloudapi.net")
    versions = conn.api_versions
    dns = conn.client_kwargs(PrivateDnsManagementClient)
    aks = conn.client_kwargs(ContainerServiceClient)
    assert dns["credential_scopes"] == ["https://management.core.usgovcloudapi.net/.default"]
    assert (dns["api_version"], aks["api_version"]) == (versions.private_dns, versions.container_service)
    # Compute and network are generated per operation group: the adapters pass a version per call.
    assert "api_version" not in conn.client_kwargs(ComputeManagementClient)
    assert "api_version" not in conn.client_kwargs(NetworkManagementClient)


def test_every_cloud_pins_every_version() -> None:
    """Each cloud's row names a date-shaped version for every client the service builds."""
    for cloud in CLOUDS:
        for name, version in vars(cloud.api_versions).items():
            assert len(version) == 10 and version[4] == version[7] == "-", (cloud.name, name, version)
