"""What a VM size offers in a location (resource SKUs), to choose an ephemeral OS disk where it fits."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

_TTL_S = 3600.0


@dataclass(frozen=True)
class SizeFacts:
    name: str
    ephemeral_supported: bool
    resource_disk_mb: int
    cache_bytes: int
    restricted: bool

    def ephemeral_placement(self, size_gb: int) -> str | None:
        if not self.ephemeral_supported:
            return None
        needed_mb = size_gb * 1024
        if self.resource_disk_mb >= needed_mb:
            return "ResourceDisk"
        if self.cache_bytes >= needed_mb * 1024 * 1024:
            return "CacheDisk"
        return None


def facts_from_sku(sku: Any, location: str) -> SizeFacts:
    caps = {c.name: c.value for c in (sku.capabilities or [])}
    restricted = any(
        getattr(r, "type", None) == "Location"
        and location.lower() in [v.lower() for v in (getattr(r, "values_property", None) or [])]
        for r in (sku.restrictions or [])
    )
    return SizeFacts(
        name=sku.name,
        ephemeral_supported=str(caps.get("EphemeralOSDiskSupported", "False")).lower() == "true",
        resource_disk_mb=int(caps.get("MaxResourceVolumeMB", 0) or 0),
        cache_bytes=int(caps.get("CachedDiskBytes", 0) or 0),
        restricted=restricted,
    )


class SkuCatalog:
    """Resource SKUs per subscription and location, cached: the list is large and changes rarely."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str], tuple[float, dict[str, SizeFacts]]] = {}

    async def size(self, client: Any, subscription: str, location: str, name: str) -> SizeFacts | None:
        key = (subscription, location.lower())
        cached = self._cache.get(key)
        if cached is None or time.monotonic() - cached[0] > _TTL_S:
            sizes: dict[str, SizeFacts] = {}
            async for sku in client.resource_skus.list(filter=f"location eq '{location}'"):
                if getattr(sku, "resource_type", None) == "virtualMachines":
                    sizes[sku.name.lower()] = facts_from_sku(sku, location)
            cached = (time.monotonic(), sizes)
            self._cache[key] = cached
        return cached[1].get(name.lower())
