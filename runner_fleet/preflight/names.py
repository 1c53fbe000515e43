"""DNS names against private DNS zones: whether a name is in a zone, and its name relative to it."""

from __future__ import annotations


def in_zone(fqdn: str, zone_name: str) -> bool:
    name, zone = fqdn.rstrip(".").lower(), zone_name.rstrip(".").lower()
    return name == zone or name.endswith("." + zone)


def relative_name(fqdn: str, zone_name: str) -> str:
    name, zone = fqdn.rstrip(".").lower(), zone_name.rstrip(".").lower()
    return "@" if name == zone else name[: -len(zone) - 1]
