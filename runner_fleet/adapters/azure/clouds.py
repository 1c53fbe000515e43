"""The Azure clouds runner-fleet can talk to: Resource Manager host, token scope and API versions.

This is the one table the service reads them from. It imports no Azure SDK, so settings validation
can use it at start-up.

API versions are pinned rather than left to the SDK: an SDK upgrade must not silently change what
Resource Manager does (new defaults, new required fields), and sovereign clouds serve new versions
later than AzureCloud. Every pinned version is a stable version of the azure-rest-api-specs folders
and carries every field the adapters read (compute 2024-07-01 has `diffDiskSettings.placement:
NvmeDisk`, which needs 2024-03-01 or later; AKS 2025-10-01 is the first stable version whose
`apiServerAccessProfile` has `enableVnetIntegration` and `subnetId`; 2025-01-01 has neither).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class ApiVersions:
    compute: str  # Microsoft.Compute virtualMachines (and their operations) and marketplace images
    resource_skus: str  # Microsoft.Compute/skus has its own, much older, version line
    network: str  # Microsoft.Network VNets, subnets, NSGs, NICs
    vm_network: str  # networkProfile.networkApiVersion: what Compute creates inline NICs with
    private_dns: str
    container_service: str


@dataclass(frozen=True)
class ArmCloud:
    name: str
    host: str
    # The token audience; not always the endpoint (AzureUSGovernment uses management.core...).
    credential_scope: str
    api_versions: ApiVersions


_VERSIONS = ApiVersions(
    compute="2024-07-01",
    resource_skus="2021-07-01",
    network="2024-05-01",
    # One of the two values Compute accepts (azure-mgmt-compute's NetworkApiVersion enum).
    vm_network="2020-11-01",
    private_dns="2024-06-01",
    container_service="2025-10-01",
)

# Hosts and scopes as azure-mgmt-core 1.6.0 `tools.get_arm_endpoints` has them. No API version is
# known to differ between the clouds for the versions pinned here; a cloud that lags gets its own
# ApiVersions in its row.
CLOUDS: tuple[ArmCloud, ...] = (
    ArmCloud("AzureCloud", "management.azure.com", "https://management.azure.com/.default", _VERSIONS),
    ArmCloud(
        "AzureUSGovernment",
        "management.usgovcloudapi.net",
        "https://management.core.usgovcloudapi.net/.default",
        _VERSIONS,
    ),
    ArmCloud(
        "AzureChinaCloud",
        "management.chinacloudapi.cn",
        "https://management.chinacloudapi.cn/.default",
        _VERSIONS,
    ),
)
# A local simulator stands in for AzureCloud; only loopback addresses qualify, so a typo in a real
# endpoint can never be taken for one.
_LOOPBACK_NAMES = frozenset({"localhost"})


class UnknownArmEndpoint(ValueError):
    pass


def cloud_for_endpoint(endpoint: str) -> ArmCloud:
    """The cloud whose Resource Manager `endpoint` is, or UnknownArmEndpoint saying what is accepted."""
    parts = urlsplit(endpoint.strip())
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" or not host:
        raise UnknownArmEndpoint(f"must be an https:// URL, one of: {_accepted()}")
    if parts.path.strip("/") or parts.query:
        raise UnknownArmEndpoint(f"must be the bare Resource Manager URL, one of: {_accepted()}")
    for cloud in CLOUDS:
        if host == cloud.host and parts.port in (None, 443):
            return cloud
    if _loopback(host):
        return CLOUDS[0]
    raise UnknownArmEndpoint(
        f"is not a known Azure cloud; use one of: {_accepted()} (or a loopback simulator)"
    )


def _loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _accepted() -> str:
    return ", ".join(f"https://{c.host} ({c.name})" for c in CLOUDS)
