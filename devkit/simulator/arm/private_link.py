"""Public names of private-link resources and the `privatelink` names their DNS points at.

Azure's public DNS answers a private-link resource's public name (acrprod.azurecr.io) with a CNAME
to the same label under the service's privatelink zone (acrprod.privatelink.azurecr.io); a VNet
linked to a private DNS zone of that name answers it from the zone, anyone else gets the public
chain (learn.microsoft.com/azure/private-link/private-endpoint-dns). Only the services the
simulator has resources for are listed; every other name is a plain public name.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.arm.store import REGISTRY_TYPE, VAULT_TYPE


@dataclass(frozen=True)
class PrivateLinkService:
    public_suffix: str  # azurecr.io
    zone: str  # privatelink.azurecr.io
    resource_type: str
    group_id: str


SERVICES = (
    PrivateLinkService("azurecr.io", "privatelink.azurecr.io", REGISTRY_TYPE, "registry"),
    PrivateLinkService("vault.azure.net", "privatelink.vaultcore.azure.net", VAULT_TYPE, "vault"),
)


@dataclass(frozen=True)
class PrivateLinkName:
    service: PrivateLinkService
    resource_name: str  # the registry's or vault's name: the first label
    public_name: str  # acrprod.westeurope.data.azurecr.io
    private_name: str  # acrprod.westeurope.data.privatelink.azurecr.io


def private_link_name(fqdn: str) -> PrivateLinkName | None:
    """The private-link reading of a public or privatelink name, None for any other name."""
    name = fqdn.rstrip(".").lower()
    for service in SERVICES:
        for suffix in (service.zone, service.public_suffix):
            if name.endswith("." + suffix):
                labels = name[: -len(suffix) - 1]
                if not labels or labels.split(".")[-1] == "privatelink":
                    return None
                return PrivateLinkName(
                    service,
                    labels.split(".")[0],
                    f"{labels}.{service.public_suffix}",
                    f"{labels}.{service.zone}",
                )
    return None


def record_name(fqdn: str) -> tuple[str, str] | None:
    """(zone, relative record name) a zone group keeps for a public name, e.g.
    ("privatelink.azurecr.io", "acrprod.westeurope.data")."""
    found = private_link_name(fqdn)
    if found is None:
        return None
    return found.service.zone, found.private_name[: -len(found.service.zone) - 1]
