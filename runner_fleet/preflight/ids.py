"""Azure resource IDs, as far as the preflight needs them: parts, names, and case-insensitive equality."""

from __future__ import annotations

import re
from dataclasses import dataclass

_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)(?:/resourceGroups/(?P<rg>[^/]+))?"
    r"(?:/providers/(?P<ns>[^/]+)(?P<rest>(?:/[^/]+/[^/]+)+))?/?$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ArmId:
    subscription: str
    resource_group: str
    namespace: str
    types: tuple[str, ...]
    names: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.names[-1] if self.names else self.resource_group

    @property
    def parent(self) -> str:
        """The ID of the parent resource (a subnet's VNet, a link's zone)."""
        pairs = "".join(f"/{t}/{n}" for t, n in zip(self.types[:-1], self.names[:-1], strict=True))
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/{self.namespace}{pairs}"
        )


def parse(resource_id: str) -> ArmId:
    match = _ID.match(resource_id.strip())
    if match is None or not match.group("rg") or not match.group("ns"):
        raise ValueError(f"not a resource ID: {resource_id!r}")
    parts = [p for p in match.group("rest").split("/") if p]
    return ArmId(
        match.group("sub"), match.group("rg"), match.group("ns"), tuple(parts[0::2]), tuple(parts[1::2])
    )


def name_of(resource_id: str) -> str:
    """The last name in an ID (or the text itself when it is not an ID)."""
    try:
        return parse(resource_id).name
    except ValueError:
        return resource_id


def is_private_endpoint_id(text: str) -> bool:
    """Whether a pool's `private_endpoints` entry names an endpoint itself (not a registry or vault)."""
    return "/providers/microsoft.network/privateendpoints/" in text.lower()


def same(a: str | None, b: str | None) -> bool:
    """ARM compares IDs case-insensitively."""
    return a is not None and b is not None and a.rstrip("/").lower() == b.rstrip("/").lower()


def vnet_of_subnet(subnet_id: str) -> str:
    return parse(subnet_id).parent


def zone_id(subscription: str, resource_group: str, name: str) -> str:
    return (
        f"/subscriptions/{subscription}/resourceGroups/{resource_group}"
        f"/providers/Microsoft.Network/privateDnsZones/{name}"
    )
