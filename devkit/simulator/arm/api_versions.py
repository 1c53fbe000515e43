"""Which API versions the simulator serves per resource type, and ARM's answer to any other.

Each list is a subset of the type's real versions: the stable versions in azure-rest-api-specs
that runner-fleet pins, the defaults of the pinned SDK wheels (azure-mgmt-compute 39.0.0,
azure-mgmt-network 33.1.0, azure-mgmt-privatedns 2.0.0, azure-mgmt-containerservice 41.8.0) and
the versions those SDKs list for the same operation groups. A version outside the list is refused
as ARM refuses a version the resource provider has not registered: 400 NoRegisteredProviderFound
naming the location, the version, the type, the supported versions and locations. A value that is
not a date-shaped version at all is 400 InvalidApiVersionParameter (ARM's answer for its own types;
for provider types the shape of that answer is a guess).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from simulator.arm.errors import ArmError

_COMPUTE = (
    "2023-09-01",
    "2024-03-01",
    "2024-07-01",
    "2024-11-01",
    "2025-04-01",
    "2025-11-01",
    "2026-03-01",
    "2026-04-01",
)
_NETWORK = ("2024-05-01", "2025-05-01", "2025-07-01", "2025-09-01", "2026-01-01", "2026-03-01")
_PRIVATE_DNS = ("2018-09-01", "2020-01-01", "2020-06-01", "2024-06-01")
_CONTAINER_SERVICE = (
    "2025-01-01",
    "2025-10-01",
    "2026-04-01",
    "2026-05-01",
    "2026-06-01",
    "2026-07-01",
    "2026-08-01",
)
# No SDK of these is pinned (runner-fleet reads them through private endpoints, not their clients):
# stable versions from azure-rest-api-specs.
_CONTAINER_REGISTRY = ("2019-05-01", "2021-09-01", "2023-07-01")
_KEY_VAULT = ("2019-09-01", "2022-07-01", "2023-07-01")

DEFAULT_SERVED: dict[str, tuple[str, ...]] = {
    "Microsoft.Compute/virtualMachines": _COMPUTE,
    "Microsoft.Compute/locations/operations": _COMPUTE,
    "Microsoft.Compute/locations/publishers/artifacttypes/offers/skus/versions": _COMPUTE,
    "Microsoft.Compute/skus": ("2017-03-30", "2017-09-01", "2019-04-01", "2021-07-01"),
    "Microsoft.Compute/disks": ("2024-03-02", "2026-03-02"),
    "Microsoft.Network/virtualNetworks": _NETWORK,
    "Microsoft.Network/virtualNetworks/subnets": _NETWORK,
    "Microsoft.Network/virtualNetworks/virtualNetworkPeerings": _NETWORK,
    "Microsoft.Network/networkInterfaces": _NETWORK,
    "Microsoft.Network/publicIPAddresses": _NETWORK,
    "Microsoft.Network/networkSecurityGroups": _NETWORK,
    "Microsoft.Network/privateDnsZones": _PRIVATE_DNS,
    "Microsoft.Network/privateDnsZones/A": _PRIVATE_DNS,
    "Microsoft.Network/privateDnsZones/virtualNetworkLinks": _PRIVATE_DNS,
    "Microsoft.Network/privateDnsOperationStatuses": _PRIVATE_DNS,
    "Microsoft.Network/privateDnsOperationResults": _PRIVATE_DNS,
    "Microsoft.ContainerService/managedClusters": _CONTAINER_SERVICE,
    "Microsoft.Network/natGateways": _NETWORK,
    "Microsoft.Network/routeTables": _NETWORK,
    "Microsoft.Network/routeTables/routes": _NETWORK,
    "Microsoft.Network/azureFirewalls": _NETWORK,
    "Microsoft.Network/firewallPolicies": _NETWORK,
    "Microsoft.Network/firewallPolicies/ruleCollectionGroups": _NETWORK,
    "Microsoft.Network/ipGroups": _NETWORK,
    "Microsoft.Network/privateEndpoints": _NETWORK,
    "Microsoft.Network/privateEndpoints/privateDnsZoneGroups": _NETWORK,
    "Microsoft.ContainerRegistry/registries": _CONTAINER_REGISTRY,
    "Microsoft.KeyVault/vaults": _KEY_VAULT,
}
# What Compute accepts in networkProfile.networkApiVersion (azure-mgmt-compute's NetworkApiVersion).
VM_NETWORK_API_VERSIONS = ("2020-11-01", "2022-11-01")

_SHAPE = re.compile(r"^\d{4}-\d{2}-\d{2}(-(preview|alpha|beta|privatepreview))?$", re.IGNORECASE)


def check_api_version(
    served: Mapping[str, tuple[str, ...]],
    resource_type: str,
    version: str,
    location: str,
    locations: tuple[str, ...],
) -> None:
    supported = served.get(resource_type)
    if supported is None:
        raise ArmError(
            404,
            "InvalidResourceType",
            f"The resource type '{resource_type.split('/', 1)[-1]}' could not be found in the namespace "
            f"'{resource_type.split('/', 1)[0]}' for api version '{version}'.",
        )
    if version in supported:
        return
    listed = ", ".join(sorted(supported, reverse=True))
    if not _SHAPE.match(version):
        raise ArmError(
            400,
            "InvalidApiVersionParameter",
            f"The api-version '{version}' is invalid. The supported versions are '{listed}'.",
        )
    raise ArmError(
        400,
        "NoRegisteredProviderFound",
        f"No registered resource provider found for location '{location}' and API version '{version}' for "
        f"type '{resource_type.split('/', 1)[-1]}'. The supported api-versions are '{listed}'. "
        f"The supported locations are '{', '.join(locations)}'.",
    )


def newer_or_equal(version: str, minimum: str) -> bool:
    """Date-ordered comparison of two API versions (a -preview suffix ranks with its date)."""
    return version[:10] >= minimum[:10]
