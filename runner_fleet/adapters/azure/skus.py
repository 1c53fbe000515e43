"""What a VM size offers in a location (resource SKUs), to choose an ephemeral OS disk where it fits.

An ephemeral OS disk lives on the host: in the size's cache, on its temporary (resource) disk, or on
its local NVMe disk (newer sizes such as the v6 families, placement `NvmeDisk`, API 2024-03-01 or
later). The SKU's `SupportedEphemeralOSDiskPlacements` lists where it may go; `CachedDiskBytes`,
`MaxResourceVolumeMB` and `NvmeDiskSizeInMiB` say how large each place is.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

_TTL_S = 3600.0
MIB = 1024 * 1024
# NVMe first: it is the fastest local disk and, on the sizes that have one, often the only place.
# The resource disk before the cache: on sizes with both it is usually the larger.
PLACEMENT_PREFERENCE = ("NvmeDisk", "ResourceDisk", "CacheDisk")


@dataclass(frozen=True)
class SizeFacts:
    name: str
    ephemeral_supported: bool
    resource_disk_mb: int
    cache_bytes: int
    restricted: bool
    nvme_disk_mib: int = 0
    # None: the SKU does not list placements (older catalogues); they are then inferred from the disks.
    placements: tuple[str, ...] | None = None

    def capacity_mib(self, placement: str) -> int:
        return {
            "nvmedisk": self.nvme_disk_mib,
            "resourcedisk": self.resource_disk_mb,
            "cachedisk": self.cache_bytes // MIB,
        }.get(placement.lower(), 0)

    def supports(self, placement: str) -> bool:
        if self.placements is not None:
            return placement.lower() in {p.lower() for p in self.placements}
        # Without the list, NvmeDisk is never assumed: an NVMe size always lists its placements.
        return placement != "NvmeDisk" and self.capacity_mib(placement) > 0

    def ephemeral_placement(self, size_gb: int) -> str | None:
        if not self.ephemeral_supported:
            return None
        needed_mib = size_gb * 1024
        for placement in PLACEMENT_PREFERENCE:
            if self.supports(placement) and self.capacity_mib(placement) >= needed_mib:
                return placement
        return None


def facts_from_sku(sku: Any, location: str) -> SizeFacts:
    # Capability names are matched case-insensitively: catalogues spell NvmeDiskSizeInMiB both ways.
    caps = {str(c.name).lower(): c.value for c in (sku.capabilities or [])}
    restricted = any(
        getattr(r, "type", None) == "Location"
        and location.lower() in [v.lower() for v in (getattr(r, "values_property", None) or [])]
        for r in (sku.restrictions or [])
    )
    listed = caps.get("supportedephemeralosdiskplacements")
    return SizeFacts(
        name=sku.name,
        ephemeral_supported=str(caps.get("ephemeralosdisksupported", "False")).lower() == "true",
        resource_disk_mb=_int(caps.get("maxresourcevolumemb")),
        cache_bytes=_int(caps.get("cacheddiskbytes")),
        restricted=restricted,
        nvme_disk_mib=_int(caps.get("nvmedisksizeinmib")),
        placements=None if listed is None else tuple(p.strip() for p in str(listed).split(",") if p.strip()),
    )


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


class SkuCatalog:
    """Resource SKUs per subscription and location, cached: the list is large and changes rarely."""

    def __init__(self, api_version: str) -> None:
        self._api_version = api_version
        self._cache: dict[tuple[str, str], tuple[float, dict[str, SizeFacts]]] = {}

    async def size(self, client: Any, subscription: str, location: str, name: str) -> SizeFacts | None:
        key = (subscription, location.lower())
        cached = self._cache.get(key)
        if cached is None or time.monotonic() - cached[0] > _TTL_S:
            sizes: dict[str, SizeFacts] = {}
            async for sku in client.resource_skus.list(
                filter=f"location eq '{location}'", api_version=self._api_version
            ):
                if getattr(sku, "resource_type", None) == "virtualMachines":
                    sizes[sku.name.lower()] = facts_from_sku(sku, location)
            cached = (time.monotonic(), sizes)
            self._cache[key] = cached
        return cached[1].get(name.lower())
